"""Fresh databases on the configured servers, for hundreds of tests, quickly.

PostgreSQL takes a third of a second to ``CREATE DATABASE`` (it copies and syncs
template1), and the suite needs hundreds. Here a database a test is done with is
emptied, as new, and handed to the next test of the same worker: its sessions ended,
every schema dropped (with the tables, types, sequences and extensions in them) and
``public`` made again, in a few hundredths of a second. MariaDB/MySQL creates and
drops a database as quickly as it could empty one: there each test has a new one.
What is left in the pool is dropped when the worker's session ends.
"""

from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from tools.databases import create_database, drop_database, throwaway_database

# The emptied databases, free for the next test, per server URL.
FREE: dict[str, list[sa.URL]] = defaultdict(list)

# The schemas PostgreSQL makes itself, which an emptied database keeps.
SYSTEM_SCHEMAS = "nspname ~ '^pg_' OR nspname = 'information_schema'"


@contextmanager
def fresh_server_database(server_url: sa.URL) -> Iterator[sa.URL]:
    """The URL of an empty database on the server for the ``with`` block."""
    if server_url.get_backend_name() != "postgresql":
        with throwaway_database(server_url) as url:
            yield url
        return
    free = FREE[server_url.render_as_string(hide_password=False)]
    url = free.pop() if free else create_database(server_url)
    try:
        yield url
    finally:
        try:
            emptied(server_url, url)
        except Exception:
            drop_database(server_url, url)
            raise
        free.append(url)


def emptied(server_url: sa.URL, url: sa.URL) -> None:
    """Make a PostgreSQL database as a new one is: no session on it, nothing in it
    but an empty ``public`` schema."""
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    database = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": url.database},
            )
        with database.connect() as connection:
            schemas = connection.exec_driver_sql(
                f"SELECT nspname FROM pg_namespace WHERE NOT ({SYSTEM_SCHEMAS})"
            ).scalars()
            for schema in list(schemas):
                connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
            connection.exec_driver_sql("CREATE SCHEMA public")
    finally:
        admin.dispose()
        database.dispose()


def drop_free_databases() -> None:
    """Drop every database left in the pool (at the end of the worker's session)."""
    for server, urls in FREE.items():
        server_url = sa.make_url(server)
        while urls:
            drop_database(server_url, urls.pop())
