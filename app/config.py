"""Settings read from the environment."""

import logging
import os
from pathlib import Path

import sqlalchemy as sa

log = logging.getLogger(__name__)

# The driver used when a URL names only the database (``postgresql://``,
# ``mysql://``): the ones this project installs, rather than SQLAlchemy's defaults
# (psycopg2, mysqlclient) that it does not.
DEFAULT_DRIVERS = {
    "postgres": "postgresql+psycopg",
    "postgresql": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mariadb+pymysql",
}

# Relative SQLite paths are resolved by Flask-SQLAlchemy against the instance folder.
DEFAULT_DATABASE_URL = "sqlite:///app.sqlite"

# The project's alembic.ini, next to the app package: where the guard finds the head.
DEFAULT_ALEMBIC_CONFIG = str(Path(__file__).resolve().parent.parent / "alembic.ini")

# What the migration guard does when the database is not at the code's head.
GUARD_MODES = ("on", "warn", "off")

# Defaults for every app, before the environment or a test config is applied.
DEFAULTS = {
    "MIGRATION_GUARD": "on",
    "ALEMBIC_CONFIG": DEFAULT_ALEMBIC_CONFIG,
    # Request bodies are small JSON documents; anything bigger is refused with 413.
    "MAX_CONTENT_LENGTH": 1024 * 1024,
}


def database_url(value: str | sa.URL | None) -> sa.URL:
    """Parse a database URL, filling in the driver this project installs.

    The result stays a ``URL`` object: turning it back into a string would either
    hide the password (SQLAlchemy 2) or expose it.
    """
    url = sa.make_url(value or DEFAULT_DATABASE_URL)
    return url.set(drivername=DEFAULT_DRIVERS.get(url.drivername, url.drivername))


def guard_mode(value: str | None) -> str:
    """``MIGRATION_GUARD`` normalised to ``on``, ``warn`` or ``off`` (unset: ``on``).

    An unknown value keeps the guard on, with a warning: a typo must not switch it
    off, and must not stop ``alembic`` (which builds the app) with a traceback.
    """
    mode = (value or "on").strip().lower()
    if mode not in GUARD_MODES:
        log.warning(
            "MIGRATION_GUARD=%r is not one of %s; the guard stays on.",
            value,
            ", ".join(GUARD_MODES),
        )
        return "on"
    return mode


def from_environment() -> dict:
    """The settings this app takes from environment variables, when they are set."""
    names = {
        "DATABASE_URL": "SQLALCHEMY_DATABASE_URI",
        "MIGRATION_GUARD": "MIGRATION_GUARD",
        "ALEMBIC_CONFIG": "ALEMBIC_CONFIG",
    }
    return {
        setting: os.environ[variable]
        for variable, setting in names.items()
        if os.environ.get(variable)
    }
