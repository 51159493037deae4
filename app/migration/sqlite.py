"""SQLite: transactional DDL, its write lock as the run lock, and foreign keys off for
batch mode's table copies.

SQLAlchemy's pysqlite recipe ("Serializable isolation / Savepoints / Transactional
DDL"): the driver stops beginning and committing transactions on its own, so DDL rolls
back too. The whole run is one ``BEGIN IMMEDIATE`` transaction (SQLite's write lock,
taken before the current revision is read), with a savepoint after each revision so
that the revisions before a failing one are kept.
"""

from contextlib import contextmanager

import sqlalchemy as sa
from alembic.util import CommandError

from app.migration.errors import run_lock_busy
from app.migration.settings import Settings, milliseconds


@contextmanager
def write_lock(connection: sa.Connection, settings: Settings):
    """Run the block in one ``BEGIN IMMEDIATE`` transaction, committing the
    revisions that succeeded; yield the options ``context.configure`` needs for it.

    Foreign keys go off first, as batch mode needs (it copies, drops and renames
    tables); the pragma does nothing inside a transaction. The driver connection's
    settings are put back whatever happens.
    """
    driver_connection = connection.connection.driver_connection
    pragmas = ("foreign_keys", "busy_timeout")
    was = {
        name: driver_connection.execute(f"PRAGMA {name}").fetchone()[0]
        for name in pragmas
    }
    isolation_level = driver_connection.isolation_level
    try:
        driver_connection.isolation_level = None
        driver_connection.execute("PRAGMA foreign_keys = OFF")
        driver_connection.execute(
            f"PRAGMA busy_timeout = {milliseconds(settings.run_lock_wait)}"
        )
        transaction = connection.begin()  # SQLAlchemy's begin sends nothing itself
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except sa.exc.OperationalError as error:
            transaction.rollback()
            if "database is locked" in str(error.orig):
                raise run_lock_busy() from error
            raise
        try:
            with keep_good_revisions(connection) as after_each_revision:
                yield {
                    "transactional_ddl": True,
                    "on_version_apply": [after_each_revision],
                }
        finally:
            if transaction.is_active:
                transaction.commit()  # the revisions that succeeded
    finally:
        if driver_connection.in_transaction:
            driver_connection.rollback()
        driver_connection.isolation_level = isolation_level
        for name, value in was.items():
            driver_connection.execute(f"PRAGMA {name} = {value}")


@contextmanager
def keep_good_revisions(connection: sa.Connection):
    """Yield an ``on_version_apply`` hook that makes a savepoint after every revision;
    on failure, roll back to the last one, so the revisions that did apply stay, as
    where each revision commits on its own."""
    savepoint = connection.begin_nested()

    def savepoint_after_revision(**kwargs) -> None:
        """Keep the revision just applied."""
        nonlocal savepoint
        savepoint.commit()
        savepoint = connection.begin_nested()

    try:
        yield savepoint_after_revision
    except BaseException:
        savepoint.rollback()
        raise
    savepoint.commit()


def foreign_keys_off_in_transaction(connection: sa.Connection) -> None:
    """Turn SQLite's foreign keys off on a connection handed in inside the caller's
    transaction, as batch mode needs; refuse when SQLite has begun it already (the
    pragma then does nothing, and a table copy would cascade into child rows)."""
    if connection.dialect.name != "sqlite":
        return
    driver_connection = connection.connection.driver_connection
    driver_connection.execute("PRAGMA foreign_keys = OFF")
    if driver_connection.execute("PRAGMA foreign_keys").fetchone()[0]:
        raise CommandError(
            "SQLite cannot turn foreign keys off inside a transaction that has "
            "written: hand in an Engine, or a Connection before it writes"
        )
