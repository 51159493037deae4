"""The servers ``migration-review --trace`` (and ``migration-squash``'s schema
check) runs on, and the throw-away database it makes on each: SQLite always, in a
temporary file; PostgreSQL and MariaDB/MySQL when a server is given."""

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from flask_alembic_kit.settings import Settings
from flask_alembic_kit.urls import SettingError, database_url
from tools.databases import create_database, drop_database
from tools.trace_findings import DATABASE_NAMES


class TraceError(Exception):
    """A server given for the trace that is not a URL or does not answer."""


def connect_timeout() -> float:
    """Seconds a server may take to answer before the trace gives up on it: the
    migrations' own ``MIGRATION_CONNECT_TIMEOUT`` (10 unless set)."""
    try:
        return Settings.from_environment().connect_timeout
    except SettingError as error:
        raise TraceError(str(error)) from None


def server_urls(postgresql: str | None, mysql: str | None) -> dict[str, sa.URL]:
    """The servers to trace on: the options, else ``TEST_POSTGRESQL_URL`` and
    ``TEST_MYSQL_URL``; SQLite always (``None``: a temporary file)."""
    urls = {"sqlite": None}
    for name, given, option, variable in (
        ("postgresql", postgresql, "--postgresql", "TEST_POSTGRESQL_URL"),
        ("mysql", mysql, "--mysql", "TEST_MYSQL_URL"),
    ):
        value = given or os.environ.get(variable)
        if not value:
            continue
        try:
            urls[name] = database_url(value)
        except SettingError as error:
            reason = str(error).split(" (", 1)[-1].rstrip(")")
            where = option if given else variable
            raise TraceError(f"{where} is not a database URL ({reason})") from None
        if urls[name].get_backend_name() != name:
            where = option if given else variable
            raise TraceError(f"{where} is not a {DATABASE_NAMES[name]} URL")
    return urls


@contextmanager
def traced_database(
    name: str, server: sa.URL | None, purpose: str = "trace"
) -> Iterator[sa.URL]:
    """A database made for the trace (or another ``purpose``: ``squash``), dropped
    after it whatever happens."""
    if server is None:
        with tempfile.TemporaryDirectory(prefix=f"migration-{purpose}-") as directory:
            yield sa.URL.create("sqlite", database=f"{directory}/{purpose}.sqlite")
        return
    try:
        # Named after this process, so that a leftover says whose it was.
        prefix = f"migration_{purpose}_{os.getpid()}"
        url = create_database(server, prefix, connect_timeout())
    except sa.exc.DBAPIError as error:
        shown = server.render_as_string(hide_password=True)
        line = str(error.orig).strip().splitlines()[0]
        raise TraceError(f"cannot create a database on {shown}: {line}") from None
    try:
        yield url
    finally:
        drop_database(server, url, connect_timeout())
