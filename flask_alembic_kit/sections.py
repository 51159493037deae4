"""Each database's history in ``alembic.ini``: the ``[alembic]`` section for the
default database, and for a bind (a model's ``__bind_key__``) a section of its
own, which is optional. Without one, the convention holds: the bind's revisions
live in ``<script_location>/binds/<name>/``, its version table is
``alembic_version_<name>``, and every other option is the default database's. A
section is written only to override (docs/binds.md); Alembic's ``-n NAME``, which
reads the section itself, needs one.
"""

from pathlib import Path

from alembic.config import Config

DEFAULT_SECTION = "alembic"

# Where a bind's revisions live, under the default history's script_location.
BINDS_FOLDER = "binds"

# The config attribute set on a bind's config built by the convention: Alembic's
# ``-n NAME`` cannot reach that history (it reads the section itself).
BY_CONVENTION = "history by convention"


def history_config(config_file: str | Path, name: str, **options) -> Config:
    """Alembic's config for one database's history: ``name`` is ``alembic`` for
    the default database, or a bind's name; ``options`` go to ``Config``."""
    config = Config(str(config_file), ini_section=name, **options)
    parser = config.file_config
    if name == DEFAULT_SECTION or parser.has_section(name):
        return config
    if not parser.has_section(DEFAULT_SECTION):  # no such file: Alembic says so
        return config
    parser.add_section(name)
    for key, value in parser.items(DEFAULT_SECTION, raw=True):
        if key not in parser.defaults() and key not in ("version_locations",):
            parser.set(name, key, value)
    location = parser.get(DEFAULT_SECTION, "script_location", raw=True)
    parser.set(name, "version_locations", f"{location}/{BINDS_FOLDER}/{name}")
    parser.set(name, "version_table", f"alembic_version_{name}")
    config.attributes[BY_CONVENTION] = True
    return config


def one_database_option(config: Config) -> str:
    """The option that keeps a command to this bind's database: ``-n NAME`` when
    alembic.ini has its section, else ``-x bind=NAME``."""
    name = config.config_ini_section
    return f"-x bind={name}" if config.attributes.get(BY_CONVENTION) else f"-n {name}"


def conventional_binds(config_file: str | Path) -> list[str]:
    """The binds whose history follows the convention without a section of its
    own: each folder under ``<script_location>/binds/`` with no section."""
    config = Config(str(config_file))
    location = config.get_main_option("script_location")
    if not location:
        return []
    folder = Path(location) / BINDS_FOLDER
    sections = set(config.file_config.sections())
    found = folder.iterdir() if folder.is_dir() else []
    return sorted(
        path.name
        for path in found
        if path.is_dir() and path.name not in sections and path.name != "__pycache__"
    )
