"""Throw-away databases on a PostgreSQL or MariaDB/MySQL server, for the schema
snapshot and the tests: created empty under a random name, dropped afterwards."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa


def run_as_admin(server_url: sa.URL, statement: str) -> None:
    """Run one statement outside a transaction (CREATE/DROP DATABASE need that)."""
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(statement)
    finally:
        admin.dispose()


def create_database(server_url: sa.URL, prefix: str = "alembic_test") -> sa.URL:
    """Create an empty database on the server; return its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    run_as_admin(server_url, f"CREATE DATABASE {name}")
    return server_url.set(database=name)


def drop_database(server_url: sa.URL, url: sa.URL) -> None:
    """Drop a database made by ``create_database``, closing its sessions on
    PostgreSQL."""
    force = " WITH (FORCE)" if server_url.get_backend_name() == "postgresql" else ""
    run_as_admin(server_url, f"DROP DATABASE IF EXISTS {url.database}{force}")


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
