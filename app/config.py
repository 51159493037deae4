"""Settings read from the environment."""

import os

import sqlalchemy as sa

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


def database_url(value: str | sa.URL | None) -> sa.URL:
    """Parse a database URL, filling in the driver this project installs.

    The result stays a ``URL`` object: turning it back into a string would either
    hide the password (SQLAlchemy 2) or expose it.
    """
    url = sa.make_url(value or DEFAULT_DATABASE_URL)
    return url.set(drivername=DEFAULT_DRIVERS.get(url.drivername, url.drivername))


def from_environment() -> dict:
    """The settings this app takes from environment variables."""
    return {"SQLALCHEMY_DATABASE_URI": os.environ.get("DATABASE_URL")}
