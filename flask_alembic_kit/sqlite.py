"""SQLite: transactional DDL, its write lock as the run lock, foreign keys off for
batch mode's table copies, the copies' constraints and indexes in one order, and
``autocommit_block`` inside the run's transaction.

SQLAlchemy's pysqlite recipe ("Serializable isolation / Savepoints / Transactional
DDL"): the driver stops beginning and committing transactions on its own, so DDL rolls
back too. The whole run is one ``BEGIN IMMEDIATE`` transaction (SQLite's write lock,
taken before the current revision is read), with a savepoint after each revision so
that the revisions before a failing one are kept.
"""

import logging
import re
import warnings
from contextlib import contextmanager

import sqlalchemy as sa
from alembic.operations.batch import ApplyBatchImpl
from alembic.runtime.migration import MigrationContext
from alembic.util import CommandError

from flask_alembic_kit.errors import run_lock_busy, waiting_for_run_lock
from flask_alembic_kit.internals import in_transaction_of_its_own
from flask_alembic_kit.settings import Settings, milliseconds

log = logging.getLogger("alembic.env")

# An index that reflection carries through batch mode's table copy: plain columns,
# no expression, no DESC, no WHERE. Any other is lost by the copy unless replayed.
IDENTIFIER = r'(?:"[^"]+"|`[^`]+`|\w+)'
PLAIN_INDEX = re.compile(
    rf"CREATE (?:UNIQUE )?INDEX {IDENTIFIER} ON {IDENTIFIER} "
    rf"\(\s*{IDENTIFIER}(?:\s*,\s*{IDENTIFIER})*\s*\)",
    re.IGNORECASE,
)
DROP_TABLE = re.compile(rf"\s*DROP TABLE ({IDENTIFIER})\s*$", re.IGNORECASE)
RENAME_COPY = re.compile(
    r'\s*ALTER TABLE "?_alembic_tmp_(.+?)"? RENAME TO', re.IGNORECASE
)


# Batch mode's table copy (how SQLite alters a table) lists the table's constraints
# and indexes in the order of a set of objects, which differs from one run to the
# next: the same revision's ``--sql`` printed another script each time, a change in
# review that is none. Alembic has no hook for that order; its ``ApplyBatchImpl``
# gathers them in ``_grab_table_elements``, and here they are put in name order
# after it (pinned by tests/test_internals.py).
gather_table_elements = ApplyBatchImpl._grab_table_elements


def table_elements_by_name(batch: ApplyBatchImpl) -> None:
    """Alembic's gathering of the copied table's parts, then named constraints and
    indexes sorted by name."""
    gather_table_elements(batch)
    batch.named_constraints = dict(sorted(batch.named_constraints.items()))
    batch.indexes = dict(sorted(batch.indexes.items(), key=lambda item: str(item[0])))


ApplyBatchImpl._grab_table_elements = table_elements_by_name


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
        transaction = connection.begin()  # SQLAlchemy's begin sends nothing itself
        try:
            locked = immediately_locked(connection)
            # The wait bounds the rest of the run too: its COMMIT waits for readers.
            wait = milliseconds(settings.run_lock_wait)
            driver_connection.execute(f"PRAGMA busy_timeout = {wait}")
            if not locked:
                if not settings.run_lock_wait:
                    raise run_lock_busy()
                log.info(waiting_for_run_lock(settings, "SQLite"))
                connection.exec_driver_sql("BEGIN IMMEDIATE")
        except (sa.exc.OperationalError, CommandError) as error:
            transaction.rollback()
            if isinstance(error, CommandError):
                raise
            if "database is locked" in str(error.orig):
                raise run_lock_busy() from error
            raise
        try:
            with (
                keep_good_revisions(connection) as after_each_revision,
                keep_unreflected_indexes(connection),
            ):
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


def immediately_locked(connection: sa.Connection) -> bool:
    """``BEGIN IMMEDIATE`` without waiting: whether the write lock was free. Any
    other error is the run's, as from the ``BEGIN IMMEDIATE`` that waits."""
    connection.connection.driver_connection.execute("PRAGMA busy_timeout = 0")
    try:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    except sa.exc.OperationalError as error:
        if "database is locked" not in str(error.orig):
            raise
        return False
    return True


ALEMBIC_AUTOCOMMIT_BLOCK = MigrationContext.autocommit_block


@contextmanager
def autocommit_block(context: MigrationContext):
    """``op.get_context().autocommit_block()``, which a revision uses for what
    PostgreSQL runs only outside a transaction (``CREATE INDEX CONCURRENTLY``). On
    SQLite the run is one transaction that env.py began (the write lock), which
    Alembic's version cannot end (an AssertionError): there the block's ops run in
    that transaction, as SQLite needs nothing outside one. Elsewhere, Alembic's."""
    if context.dialect.name == "sqlite" and not in_transaction_of_its_own(context):
        yield
        return
    with ALEMBIC_AUTOCOMMIT_BLOCK(context):
        yield


# Alembic has no hook for it: its method is wrapped, for SQLite only.
MigrationContext.autocommit_block = autocommit_block


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


@contextmanager
def keep_unreflected_indexes(connection: sa.Connection):
    """Replay the indexes that batch mode's table copy loses or changes.

    Batch mode rebuilds a table from its reflection, and SQLAlchemy cannot reflect an
    index on an expression, nor keep an index's DESC or WHERE: the copy silently
    drops or flattens them. Their SQL is read from ``sqlite_master`` before the old
    table is dropped; once the copy has its name and batch mode has created the
    indexes it knows, each one is put back as it was.
    """
    driver = connection.connection.driver_connection
    saved: dict[str, list[tuple[str, str]]] = {}  # before the copy
    pending: dict[str, list[tuple[str, str]]] = {}  # copied, indexes not yet back

    def put_back(table: str) -> None:
        """Create the table's saved indexes again, as they were."""
        for name, sql in pending.pop(table, []):
            query = "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?"
            now = driver.execute(query, (name,)).fetchone()
            if now and now[0] == sql:
                continue
            try:
                if now:
                    driver.execute(f'DROP INDEX "{name}"')  # flattened by the copy
                driver.execute(sql)
            except driver.OperationalError as error:  # e.g. on a dropped column
                log.warning("Index %s is gone with the table copy: %s", name, error)

    def before(conn, cursor, statement, parameters, context, executemany) -> None:
        """Put back what the last copy lost once batch mode has moved on; before
        ``DROP TABLE t``, keep the SQL of t's indexes that reflection cannot see."""
        for table in list(pending):
            own_index = rf'\s*CREATE (UNIQUE )?INDEX \S+ ON "?{re.escape(table)}\b'
            if not re.match(own_index, statement):
                put_back(table)
        if match := DROP_TABLE.match(statement):
            table = match.group(1).strip('"`')
            rows = driver.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' "
                "AND tbl_name = ? AND sql IS NOT NULL",
                (table,),
            ).fetchall()
            saved[table] = [r for r in rows if not PLAIN_INDEX.fullmatch(r[1])]

    def after(conn, cursor, statement, parameters, context, executemany) -> None:
        """Once the copy is renamed to t, t's saved indexes are pending."""
        if (match := RENAME_COPY.match(statement)) and match.group(1) in saved:
            pending[match.group(1)] = saved.pop(match.group(1))

    sa.event.listen(connection, "before_cursor_execute", before)
    sa.event.listen(connection, "after_cursor_execute", after)
    try:
        with warnings.catch_warnings():
            # SQLAlchemy warns that reflection skips such an index: it is kept here.
            warnings.filterwarnings(
                "ignore",
                message="Skipped unsupported reflection of expression-based index",
                category=sa.exc.SAWarning,
            )
            yield
        for table in list(pending):
            put_back(table)
    finally:
        sa.event.remove(connection, "before_cursor_execute", before)
        sa.event.remove(connection, "after_cursor_execute", after)


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
