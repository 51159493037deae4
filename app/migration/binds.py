"""More than one database: each Flask-SQLAlchemy bind has its own history, run by
the same ``alembic`` commands (README, "More than one database").

A bind ``audit`` is configured by ``DATABASE_URL_AUDIT`` and declared by an
``[audit]`` section of alembic.ini: Alembic's own way to keep several environments
in one file (``alembic -n audit ...`` acts on that database alone). The section
names its revision folder (``version_locations``) and its version table. Nothing of
the default database's history changes when a bind is added.

A command run without ``-n`` runs on the default database first, then, with the
same arguments, on each bind in turn: each database is migrated under its own run
lock, one at a time, and a failure names the database and stops there.
"""

import re
from collections.abc import Iterator

from alembic import context
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError

from app.config import BIND_URL_PREFIX, bind_urls

DEFAULT_SECTION = "alembic"

# A revision argument that names revisions (``ab12``, ``ab12:cd34``, ``ab12@head``)
# rather than a place every history has (``head``, ``base``, ``-1``).
NAMED_REVISION = re.compile(r"[0-9a-f]{4,}", re.IGNORECASE)


def bind_of(config: Config) -> str | None:
    """The bind a command runs on: its alembic.ini section, ``None`` for the
    default database."""
    section = config.config_ini_section
    return None if section == DEFAULT_SECTION else section


def names_revisions(argument: str | None) -> list[str]:
    """The revision ids a command's argument names: ``ab12:cd34`` names two,
    ``ab12@head`` and ``ab12-1`` one; ``head``, ``base`` and ``-1`` none."""
    if not argument:
        return []
    parts = [re.sub(r"@.*|[-+]\d+$", "", part) for part in str(argument).split(":")]
    return [part for part in parts if NAMED_REVISION.fullmatch(part)]


def has_revisions(script: ScriptDirectory, revisions: list[str]) -> bool:
    """Whether a history has every one of these revision ids."""
    try:
        return all(script.get_revision(each) is not None for each in revisions)
    except CommandError:
        return False


def runs_here(config: Config, script: ScriptDirectory) -> bool:
    """Whether the command is about this database: not when the revision it names
    (``alembic downgrade ab12``) is in another database's history instead. A
    revision no history has is left to Alembic, which says so."""
    named = names_revisions(getattr(config.cmd_opts, "revision", None))
    if not named or has_revisions(script, named) or not bind_urls():
        return True
    sections = [DEFAULT_SECTION, *bind_urls()]
    return not any(
        has_revisions(
            ScriptDirectory.from_config(Config(config.config_file_name, section)),
            named,
        )
        for section in sections
        if section != config.config_ini_section
    )


def each_bind(config: Config) -> Iterator[Config]:
    """The config of each bind the default database's command also runs on."""
    if bind_of(config) is not None or config.cmd_opts is None:
        return
    if "connection" in config.attributes:  # a caller's one database
        return
    sections = set(config.file_config.sections())
    for name in bind_urls():
        if name not in sections:
            raise CommandError(
                f"{BIND_URL_PREFIX}{name.upper()} configures the database "
                f"{name!r}, but alembic.ini has no [{name}] section for its "
                'history: add one (README, "More than one database")'
            )
        yield Config(
            config.config_file_name,
            ini_section=name,
            cmd_opts=config.cmd_opts,
            stdout=config.stdout,
        )


def run_on_binds(config: Config) -> None:
    """Run the command the user ran on each bind in turn, after the default
    database: the same function with the same arguments, and the bind's config."""
    for bind_config in each_bind(config):
        name = bind_config.config_ini_section
        options = config.cmd_opts
        function, positional, keywords = options.cmd
        # A heading per database; a SQL comment in a --sql script.
        comment = "--" if getattr(options, "sql", False) else "#"
        config.print_stdout(f"{comment} database {name}")
        outer = context._proxy  # Alembic's module-level context, of the default run
        try:
            function(
                bind_config,
                *[getattr(options, key) for key in positional],
                **{key: getattr(options, key, None) for key in keywords},
            )
        except CommandError as error:
            raise CommandError(f"database {name}: {error}") from error
        finally:
            outer._install_proxy()  # the bind's run removed it
