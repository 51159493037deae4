"""The histories a project's alembic.ini declares: the default database's (the
``[alembic]`` section) and one per other database, in a section of its own or where
the kit's convention puts it (``flask_alembic_kit/sections.py``, docs/binds.md).
Each is reviewed, graph-checked and traced on its own.
"""

from dataclasses import dataclass
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError

from flask_alembic_kit.sections import (
    DEFAULT_SECTION,
    conventional_binds,
    history_config,
)
from flask_alembic_kit.urls import bind_variable
from tools.gitrepo import ReviewInputError

# What the report calls the default database, as `alembic`'s headings do.
DEFAULT_DATABASE = "default"


@dataclass(frozen=True)
class Database:
    """One database's history: its alembic.ini section, its revision folders and
    its version table."""

    name: str  # "default", or the section's name (the bind's)
    section: str
    folders: tuple[Path, ...]  # absolute
    version_table: str

    @property
    def is_default(self) -> bool:
        """Whether this is the default database's history."""
        return self.section == DEFAULT_SECTION

    @property
    def url_variable(self) -> str:
        """The variable env.py takes this database's URL from."""
        return "DATABASE_URL" if self.is_default else bind_variable(self.section)

    def config(self, config_path: Path, **options) -> Config:
        """Alembic's config for this history (``alembic -n <section>``)."""
        return history_config(config_path, self.section, **options)


def history_sections(config_path: Path) -> list[str]:
    """The histories of alembic.ini, the default one first: each section that
    declares one (``script_location``), and each bind's that follows the
    convention without a section (``alembic/binds/<name>/``)."""
    parser = Config(str(config_path)).file_config
    others = [
        section
        for section in parser.sections()
        if section != DEFAULT_SECTION and parser.has_option(section, "script_location")
    ]
    return [DEFAULT_SECTION, *sorted(others + conventional_binds(config_path))]


def database_of(config_path: Path, section: str) -> Database:
    """The history one section of alembic.ini declares."""
    config = history_config(config_path, section)
    try:
        script = ScriptDirectory.from_config(config)
    except CommandError as error:
        where = "" if section == DEFAULT_SECTION else f"[{section}]: "
        raise ReviewInputError(where + str(error).splitlines()[0]) from None
    locations = script.version_locations or [script.versions]
    return Database(
        name=DEFAULT_DATABASE if section == DEFAULT_SECTION else section,
        section=section,
        folders=tuple(Path(location).resolve() for location in locations),
        version_table=config.get_main_option("version_table", "alembic_version"),
    )


def databases(config_path: Path) -> list[Database]:
    """Every history alembic.ini declares, the default database's first."""
    return [database_of(config_path, name) for name in history_sections(config_path)]
