"""Throw-away databases for the benchmarks: an SQLite file, or a database created on
the PostgreSQL or MariaDB/MySQL server named by ``TEST_POSTGRESQL_URL`` /
``TEST_MYSQL_URL`` (the same variables the test suite reads)."""

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from flask_alembic_kit.urls import database_url
from tools.databases import drop_database, run_as_admin, throwaway_database

SERVER_URL_VARIABLES = {
    "postgresql": "TEST_POSTGRESQL_URL",
    "mysql": "TEST_MYSQL_URL",
}
BACKENDS = ("sqlite", "postgresql", "mysql")


def server_url(backend: str) -> sa.URL:
    """The server URL for a backend, from its environment variable."""
    variable = SERVER_URL_VARIABLES[backend]
    if not os.environ.get(variable):
        raise ValueError(f"set {variable} to benchmark {backend}")
    return database_url(os.environ[variable])


@contextmanager
def fresh_database(backend: str, directory: Path) -> Iterator[sa.URL]:
    """A new, empty database (with this project's driver), dropped afterwards."""
    if backend == "sqlite":
        path = directory / f"bench_{uuid.uuid4().hex[:8]}.sqlite"
        yield sa.URL.create("sqlite", database=str(path))
        path.unlink(missing_ok=True)
        return
    with throwaway_database(server_url(backend), prefix="alembic_bench") as url:
        yield url


def as_environment(url: sa.URL) -> str:
    """The URL as ``DATABASE_URL`` wants it, password included (never printed)."""
    return url.render_as_string(hide_password=False)


def recreate(backend: str, url: sa.URL) -> None:
    """Empty a database made by ``fresh_database``: drop it and create it again."""
    if backend == "sqlite":
        Path(url.database).unlink(missing_ok=True)
        return
    server = server_url(backend)
    drop_database(server, url)
    run_as_admin(server, f"CREATE DATABASE {url.database}")
