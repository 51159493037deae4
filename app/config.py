"""The app's settings: its defaults, and those it reads from the environment.

The database URLs (``DATABASE_URL``, ``DATABASE_URL_<NAME>``) are read by the
migration kit (``flask_alembic_kit.urls``), which ``alembic`` reads them with too.
"""

import os
from pathlib import Path

# The project's alembic.ini, next to the app package: where the guard finds the head.
DEFAULT_ALEMBIC_CONFIG = str(Path(__file__).resolve().parent.parent / "alembic.ini")

# Defaults for every app, before the environment or a test config is applied.
DEFAULTS = {
    "MIGRATION_GUARD": "on",
    "ALEMBIC_CONFIG": DEFAULT_ALEMBIC_CONFIG,
    # Request bodies are small JSON documents; anything bigger is refused with 413.
    "MAX_CONTENT_LENGTH": 1024 * 1024,
}


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
