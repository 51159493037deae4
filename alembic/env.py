"""Alembic's environment: how every ``alembic`` command reaches the app's models and
database, and the promises it keeps in production (README, "Running migrations in
production"): one migrator at a time, a failing revision leaves the last good one,
statements that give up on busy tables, and one-line errors.

Read it top to bottom: logging and the models' metadata; settings and errors; the
app's engine and the options for both modes; offline mode (``--sql``, renders a
script); the run lock of each database; online mode (runs on a live connection); and
the last lines, which run either with clear errors.
"""

import hashlib
import logging
import math
import os
import time
from contextlib import contextmanager
from logging.config import fileConfig
from typing import NamedTuple

import sqlalchemy as sa
from alembic import context
from alembic.util import CommandError

from app import create_app
from app.db import db

config = context.config
log = logging.getLogger("alembic.env")

# Logging as alembic.ini sets it, when there is a file (tests may build the config in
# code); existing loggers, such as the app's and pytest's, keep working.
if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

# Every model's table: importing ``app`` imports the models, so autogenerate sees all.
target_metadata = db.metadata

VERSION_TABLE = "alembic_version"

# The commands that write to the database, and so take the run lock. ``current`` and
# ``check`` only read: they must not wait behind a long migration.
MIGRATING_COMMANDS = {"upgrade", "downgrade", "stamp"}


# --- Settings and errors -------------------------------------------------------------


def setting(name: str, default: float, kind: type = float) -> float:
    """A number of seconds (or a count) from the environment variable ``name``."""
    value = os.environ.get(name, "").strip()
    try:
        number = kind(value) if value else default
    except ValueError:
        number = -1
    if not 0 <= number < math.inf:
        raise CommandError(f"{name} must be a number, 0 or more, not {value!r}")
    return number


class Settings(NamedTuple):
    """The ``MIGRATION_*`` settings, read once before any lock is taken (README table).

    Timeouts in seconds; 0 means no limit (no wait at all, for the run lock). A
    NamedTuple, not a dataclass: env.py runs again for every command, and a dataclass
    compiles its methods each time (~1 ms).
    """

    run_lock_wait: float
    lock_timeout: float
    statement_timeout: float
    lock_retries: int

    @classmethod
    def from_environment(cls) -> "Settings":
        """Read and check every setting, so a bad value fails before anything starts."""
        return cls(
            run_lock_wait=setting("MIGRATION_RUN_LOCK_WAIT", 300),
            lock_timeout=setting("MIGRATION_LOCK_TIMEOUT", 5),
            statement_timeout=setting("MIGRATION_STATEMENT_TIMEOUT", 600),
            lock_retries=setting("MIGRATION_LOCK_RETRIES", 0, kind=int),
        )


def milliseconds(seconds: float) -> int:
    """Seconds as whole milliseconds, rounded up so a small limit never becomes 0."""
    return math.ceil(seconds * 1000)


def run_lock_busy() -> CommandError:
    """The error for a run lock that another migrator held for too long."""
    return CommandError(
        "another migration is running on this database, for longer than "
        "MIGRATION_RUN_LOCK_WAIT allows; let it finish, then run this one again"
    )


def is_lock_timeout(error: sa.exc.DBAPIError) -> bool:
    """Whether the database gave up waiting for a lock (PostgreSQL's SQLSTATE 55P03,
    MariaDB/MySQL's error 1205)."""
    code = error.orig.args[0] if error.orig.args else None
    return getattr(error.orig, "sqlstate", None) == "55P03" or code == 1205


def one_line(error: sa.exc.DBAPIError) -> str:
    """The database's own message, first line: no SQL, parameters or URL in it."""
    reason = error.orig.args[-1] if error.orig.args else error.orig
    line = str(reason).strip().splitlines()[0]
    return line.removeprefix("connection failed: ").replace("FATAL:  ", "")


# --- The app's engine, and the options for both modes --------------------------------


def app_engine() -> sa.Engine:
    """The engine Flask-SQLAlchemy builds from the app's config (``DATABASE_URL``).

    The URL never goes through ``alembic.ini``: a ``%`` in a password would break
    configparser, and printing the config would show the password.
    """
    try:
        app = create_app(web=False)
    except (sa.exc.ArgumentError, ValueError) as error:
        raise CommandError(
            "DATABASE_URL is not a database URL such as "
            f"postgresql://user:password@host:5432/name ({error})"
        ) from error
    except ImportError as error:
        raise CommandError(f"DATABASE_URL needs a driver: {error}") from error
    with app.app_context():
        return db.engine


def skip_empty_revision(context, revision, directives) -> None:
    """Write no revision file when ``revision --autogenerate`` finds no change."""
    autogenerate = getattr(config.cmd_opts, "autogenerate", False)
    if autogenerate and directives[0].upgrade_ops.is_empty():
        directives[:] = []
        log.info("No changes in schema detected; no revision file written.")


# Options for both modes. Batch mode lets one revision file ALTER tables on SQLite
# too; each revision commits on its own, so a failure stops at the last good one.
MIGRATION_OPTIONS = {
    "target_metadata": target_metadata,
    "version_table": VERSION_TABLE,
    "render_as_batch": True,
    "compare_type": True,
    "compare_server_default": True,
    "transaction_per_migration": True,
    "process_revision_directives": skip_empty_revision,
}


# --- Offline mode ---------------------------------------------------------------------


def run_migrations_offline() -> None:
    """Render the migrations as SQL for the dialect of ``DATABASE_URL`` (``--sql``).

    No connection is made; bound values are rendered inline so the script runs as is.
    A range with no revision in it (``upgrade head:base``) is an error, not an empty
    script.
    """
    rendered = []
    context.configure(
        url=app_engine().url,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        on_version_apply=[lambda step, **kwargs: rendered.append(step)],
        **MIGRATION_OPTIONS,
    )
    with context.begin_transaction():
        context.run_migrations()
    if not rendered:
        start = context.get_starting_revision_argument() or "base"
        raise CommandError(
            f"no revisions lead from {start} to {context.get_revision_argument()} "
            "this way: check the order of the range (upgrade goes old:new)"
        )


# --- The run lock of each database ----------------------------------------------------


@contextmanager
def session_settings(connection: sa.Connection, set_sql: str, reset_sql: str, values):
    """Set session variables (one ``set_sql.format(name=, value=)`` each) and commit,
    so that each revision gets a transaction of its own; reset them at the end."""
    for name, value in values.items():
        connection.exec_driver_sql(set_sql.format(name=name, value=value))
    connection.commit()
    try:
        yield
    finally:
        reset_session(connection, [reset_sql.format(name=name) for name in values])


def reset_session(connection: sa.Connection, statements: list[str]) -> None:
    """End the run: roll back what a failure left open, then run ``statements``
    (release the lock, reset settings). A dead connection released them already."""
    try:
        connection.rollback()
        for statement in statements:
            connection.exec_driver_sql(statement)
        connection.commit()
    except sa.exc.DBAPIError as error:
        log.warning("The run lock ends with the connection: %s", one_line(error))


@contextmanager
def postgresql_run_lock(connection: sa.Connection, settings: Settings):
    """Hold a session advisory lock for the run, then set the statement timeouts.

    The lock outlives each revision's commit and ends with the session, also when the
    migrator is killed. Waiting for it is bounded by ``MIGRATION_RUN_LOCK_WAIT`` alone:
    the migration's own timeouts are set once the lock is held.
    """
    database = connection.exec_driver_sql("SELECT current_database()").scalar()
    digest = hashlib.sha256(f"{database}.{VERSION_TABLE}".encode()).digest()
    key = int.from_bytes(digest[:8], "big", signed=True)
    wait = max(milliseconds(settings.run_lock_wait), 1)
    connection.exec_driver_sql(f"SET lock_timeout = {wait}")
    connection.exec_driver_sql("SET statement_timeout = 0")  # a role's default
    try:
        connection.exec_driver_sql(f"SELECT pg_advisory_lock({key})")
    except sa.exc.OperationalError as error:
        if is_lock_timeout(error):
            raise run_lock_busy() from error
        raise
    timeouts = {
        "lock_timeout": milliseconds(settings.lock_timeout),
        "statement_timeout": milliseconds(settings.statement_timeout),
    }
    if connection.dialect.server_version_info >= (14,):
        # A killed migrator's session ends within a second, even mid-statement,
        # instead of holding its locks until that statement is done.
        timeouts["client_connection_check_interval"] = 1000
    try:
        with session_settings(
            connection, "SET {name} = {value}", "RESET {name}", timeouts
        ):
            yield {}
    finally:
        reset_session(connection, [f"SELECT pg_advisory_unlock({key})"])


@contextmanager
def mysql_run_lock(connection: sa.Connection, settings: Settings):
    """Hold a named lock (``GET_LOCK``) for the run, then set the statement timeouts.

    Like PostgreSQL's advisory lock, it outlives each revision's commit and ends with
    the session. Lock names are server-wide, so the name includes the database's.
    """
    database = connection.exec_driver_sql("SELECT DATABASE()").scalar()
    name = f"alembic.{database}.{VERSION_TABLE}"
    if len(name) > 64:  # MySQL refuses longer lock names
        name = f"alembic.{hashlib.sha256(name.encode()).hexdigest()[:56]}"
    lock = sa.text("SELECT GET_LOCK(:name, :wait)")
    if (
        connection.execute(
            lock, {"name": name, "wait": settings.run_lock_wait}
        ).scalar()
        != 1
    ):
        raise run_lock_busy()
    timeouts = {}
    if lock_timeout := math.ceil(settings.lock_timeout):
        timeouts["lock_wait_timeout"] = lock_timeout  # DDL waiting on a table
        timeouts["innodb_lock_wait_timeout"] = lock_timeout  # a data step on rows
    if connection.dialect.is_mariadb:
        timeouts["max_statement_time"] = settings.statement_timeout
    sa.event.listen(connection, "after_cursor_execute", note_kept_ddl)
    try:
        with session_settings(
            connection,
            "SET SESSION {name} = {value}",
            "SET SESSION {name} = DEFAULT",
            timeouts,
        ):
            yield {"on_version_apply": [lambda **kwargs: KEPT_DDL.clear()]}
    finally:
        sa.event.remove(connection, "after_cursor_execute", note_kept_ddl)
        reset_session(connection, [f"DO RELEASE_LOCK('{name}')"])


# The DDL statements MariaDB/MySQL committed for the revision under way: a failure
# cannot roll them back, so the error names them for the operator to undo.
KEPT_DDL: list[str] = []


def note_kept_ddl(connection, cursor, statement: str, *args) -> None:
    """Remember a DDL statement of the revision under way (MariaDB/MySQL)."""
    words = statement.split()
    verb = words[0].upper() if words else ""
    ddl = verb in {"CREATE", "ALTER", "DROP", "RENAME", "TRUNCATE"}
    if ddl and VERSION_TABLE not in statement:
        KEPT_DDL.append(" ".join(words)[:80])


@contextmanager
def sqlite_run_lock(connection: sa.Connection, settings: Settings):
    """Run the whole migration in one ``BEGIN IMMEDIATE`` transaction: SQLite's write
    lock, taken before the current revision is read. A savepoint after each revision
    keeps the good ones when a later one fails.

    SQLAlchemy's pysqlite recipe ("Serializable isolation / Savepoints / Transactional
    DDL"): the driver stops beginning and committing transactions on its own, so DDL
    rolls back too. Foreign keys go off first, as batch mode needs (it copies, drops
    and renames tables); the pragma does nothing inside a transaction. The driver
    connection's settings are put back whatever happens.
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


RUN_LOCKS = {
    "postgresql": postgresql_run_lock,
    "mysql": mysql_run_lock,
    "mariadb": mysql_run_lock,
    "sqlite": sqlite_run_lock,
}


# --- Online mode ----------------------------------------------------------------------


def run_revisions(connection: sa.Connection, retries: int = 0, **options) -> None:
    """Configure Alembic on the connection and run what the command asks for.

    A revision that gave up on a table lock was rolled back, so it is tried again,
    ``retries`` times at most, a second apart; not on MariaDB/MySQL once it committed
    DDL there, which a rerun would repeat.
    """
    for attempt in range(1, retries + 2):
        try:
            context.configure(connection=connection, **MIGRATION_OPTIONS, **options)
            with context.begin_transaction():
                context.run_migrations()
            return
        except sa.exc.OperationalError as error:
            if attempt > retries or KEPT_DDL or not is_lock_timeout(error):
                raise
            log.warning(
                "A table lock is busy; trying again (%s of %s)", attempt, retries
            )
            time.sleep(1)


def sqlite_foreign_keys_off_in_transaction(connection: sa.Connection) -> None:
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


def run_migrations_on(connection: sa.Connection) -> None:
    """Run the migrations on one live connection, holding the run lock if it migrates.

    A connection handed in inside its own transaction is the caller's to manage: it
    runs as is, without a lock.
    """
    command = getattr(config.cmd_opts, "cmd", None)
    migrating = command is None or command[0].__name__ in MIGRATING_COMMANDS
    if not migrating:
        return run_revisions(connection)
    if connection.in_transaction():
        sqlite_foreign_keys_off_in_transaction(connection)
        return run_revisions(connection)
    settings = Settings.from_environment()
    with RUN_LOCKS[connection.dialect.name](connection, settings) as options:
        run_revisions(connection, retries=settings.lock_retries, **options)


def run_migrations_online() -> None:
    """Run the migrations on a live connection.

    A caller may hand one in through ``config.attributes["connection"]``: a
    ``Connection`` (Alembic's cookbook) or an ``Engine`` (pytest-alembic). Otherwise
    the app's own engine is used, and disposed of afterwards.
    """
    handed_in = config.attributes.get("connection")
    if isinstance(handed_in, sa.Connection):
        run_migrations_on(handed_in)
        return
    engine = handed_in if handed_in is not None else app_engine()
    try:
        with engine.connect() as connection:
            run_migrations_on(connection)
    finally:
        if handed_in is None:
            engine.dispose()


@contextmanager
def clear_errors():
    """Turn database failures into one line: the ``alembic`` command prints
    ``FAILED: <line>`` and exits non-zero. ``alembic --raiseerr`` shows the traceback.
    """
    try:
        yield
    except sa.exc.DBAPIError as error:
        if error.statement is None:
            message = f"cannot connect to the database: {one_line(error)}"
        elif is_lock_timeout(error):
            message = (
                "a migration statement waited too long for a table lock that another "
                f"connection holds ({one_line(error)}); its revision was rolled back. "
                "Run again later, or raise MIGRATION_LOCK_TIMEOUT"
            )
        else:
            message = (
                f"a migration statement failed: {one_line(error)}. The database is at "
                "the last revision that completed"
            )
            if KEPT_DDL:
                message += (
                    "; MariaDB/MySQL kept these statements of the failed revision, "
                    f"undo them before running it again: {'; '.join(KEPT_DDL)}"
                )
            message += ". Run with --raiseerr for the traceback"
        raise CommandError(message) from error


with clear_errors():
    if context.is_offline_mode():
        run_migrations_offline()
    else:
        run_migrations_online()
