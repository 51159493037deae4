"""Throw-away databases on a PostgreSQL or MariaDB/MySQL server, for the schema
snapshot and the tests: created empty under a random name, dropped afterwards."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from flask_alembic_kit.network import add_connect_timeout


def run_as_admin(
    server_url: sa.URL, statement: str, connect_timeout: float | None = None
) -> None:
    """Run one statement outside a transaction (CREATE/DROP DATABASE need that),
    giving up on a server that does not answer within ``connect_timeout``."""
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    if connect_timeout:
        add_connect_timeout(admin, connect_timeout)
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(statement)
    finally:
        admin.dispose()


def create_database(
    server_url: sa.URL,
    prefix: str = "alembic_test",
    connect_timeout: float | None = None,
) -> sa.URL:
    """Create an empty database on the server; return its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    run_as_admin(server_url, f"CREATE DATABASE {name}", connect_timeout)
    return server_url.set(database=name)


def drop_database(
    server_url: sa.URL, url: sa.URL, connect_timeout: float | None = None
) -> None:
    """Drop a database made by ``create_database``, closing its sessions on
    PostgreSQL."""
    force = " WITH (FORCE)" if server_url.get_backend_name() == "postgresql" else ""
    statement = f"DROP DATABASE IF EXISTS {url.database}{force}"
    run_as_admin(server_url, statement, connect_timeout)


@contextmanager
def throwaway_database(
    server_url: sa.URL, prefix: str = "alembic_test"
) -> Iterator[sa.URL]:
    """A fresh database on the server for the ``with`` block, dropped after it."""
    url = create_database(server_url, prefix)
    try:
        yield url
    finally:
        drop_database(server_url, url)
