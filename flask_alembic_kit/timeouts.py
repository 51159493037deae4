"""Session timeouts: how long each migration statement may wait for a table lock and
run, on PostgreSQL and MariaDB/MySQL (SQLite has no such settings).

The online run sets them on its connection once it holds the run lock
(``run_lock.py``); an offline script (``alembic upgrade A:B --sql``) starts with the
same ``SET`` statements, so a DBA who runs it by hand gets the same protection.
"""

import math

import sqlalchemy as sa

from flask_alembic_kit.network import keepalive_schedule
from flask_alembic_kit.settings import Settings, milliseconds, seconds_text

# MariaDB's executable comment: MariaDB runs the statement inside, MySQL skips it
# (MySQL's max_execution_time bounds SELECTs only).
MARIADB_ONLY = "/*M!100108 {statement} */"


def postgresql_timeouts(settings: Settings, server_version=None) -> dict[str, int]:
    """PostgreSQL's session settings, in milliseconds (0: no limit)."""
    timeouts = {
        "lock_timeout": milliseconds(settings.lock_timeout),
        "statement_timeout": milliseconds(settings.statement_timeout),
    }
    if server_version is not None and server_version >= (14,):
        # A killed migrator's session ends within a second, even mid-statement,
        # instead of holding its locks until that statement is done.
        timeouts["client_connection_check_interval"] = 1000
    return timeouts


def mysql_timeouts(settings: Settings) -> dict[str, float]:
    """MariaDB/MySQL's session settings, in seconds. Unset ones keep the server's
    default: a lock wait of 0 would mean "give up at once", not "no limit"."""
    timeouts = {}
    if lock_timeout := math.ceil(settings.lock_timeout):
        timeouts["lock_wait_timeout"] = lock_timeout  # DDL waiting on a table
        timeouts["innodb_lock_wait_timeout"] = lock_timeout  # a data step on rows
    timeouts["max_statement_time"] = settings.statement_timeout  # MariaDB only
    return timeouts


def postgresql_dead_client(settings: Settings, server_version) -> dict[str, int]:
    """PostgreSQL's session settings that end a migrator's session once its client
    went quiet (``network.py``): the server's keepalives to the client, and a
    session that waited ``MIGRATION_NETWORK_TIMEOUT`` for its next statement."""
    seconds = settings.network_timeout
    if not seconds:
        return {}
    idle, interval, count = keepalive_schedule(seconds)
    timeouts = {
        "tcp_keepalives_idle": idle,
        "tcp_keepalives_interval": interval,
        "tcp_keepalives_count": count,
        "tcp_user_timeout": milliseconds(seconds),
        "idle_in_transaction_session_timeout": milliseconds(seconds),
    }
    if server_version is not None and server_version >= (14,):
        timeouts["idle_session_timeout"] = milliseconds(seconds)  # between revisions
    return timeouts


def mysql_dead_client(settings: Settings) -> dict[str, int]:
    """MariaDB/MySQL's session setting that ends a migrator's session once its
    client went quiet: the server has no keepalives of a session's own, so it is
    the wait for the next statement, ``MIGRATION_NETWORK_TIMEOUT``."""
    seconds = settings.network_timeout
    return {"wait_timeout": math.ceil(seconds)} if seconds else {}


def session_statements(
    connection: sa.Connection, settings: Settings
) -> tuple[list[str], list[str]]:
    """The statements that set the timeouts on ``connection``, and those that put
    the server's defaults back."""
    if connection.dialect.name == "postgresql":
        version = connection.dialect.server_version_info
        timeouts = {
            **postgresql_timeouts(settings, version),
            **postgresql_dead_client(settings, version),
        }
        return (
            [f"SET {name} = {value}" for name, value in timeouts.items()],
            [f"RESET {name}" for name in timeouts],
        )
    timeouts = {**mysql_timeouts(settings), **mysql_dead_client(settings)}
    if not connection.dialect.is_mariadb:
        del timeouts["max_statement_time"]
    return (
        [f"SET SESSION {name} = {value:g}" for name, value in timeouts.items()],
        [f"SET SESSION {name} = DEFAULT" for name in timeouts],
    )


def script_header(dialect: sa.Dialect, settings: Settings) -> list[str]:
    """The first lines of an offline script: a comment saying where the values come
    from, then one ``SET`` statement per timeout (none for SQLite)."""
    if dialect.name == "postgresql":
        statements = [
            f"SET {name} = {value}"
            for name, value in postgresql_timeouts(settings).items()
        ]
    elif dialect.name in ("mysql", "mariadb"):
        statements = []
        for name, value in mysql_timeouts(settings).items():
            statement = f"SET SESSION {name} = {value:g}"
            if name == "max_statement_time" and not dialect.is_mariadb:
                statement = MARIADB_ONLY.format(statement=statement)
            statements.append(statement)
    else:
        return []
    source = (
        "-- The timeouts the online run sets, from MIGRATION_LOCK_TIMEOUT "
        f"({seconds_text(settings.lock_timeout)}) and MIGRATION_STATEMENT_TIMEOUT "
        f"({seconds_text(settings.statement_timeout)}); 0 is no limit."
    )
    return [source, *statements]
