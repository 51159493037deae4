"""Alembic's environment: how every ``alembic`` command reaches the app's models and
database, and the promises it keeps in production (README, "Running migrations in
production"): one migrator at a time, a failing revision leaves the last good one,
statements that give up on busy tables, and one-line errors.

Read it top to bottom: logging, the models' metadata, the settings, the engine,
offline mode (``--sql``, renders a script), the run lock for each database, online
mode (runs on a live connection), and the one line that runs either with clear errors.

Settings, from environment variables, in seconds:

- ``MIGRATION_RUN_LOCK_WAIT`` (300, 0 for not at all): how long a migrator waits for
  another one to finish.
- ``MIGRATION_LOCK_TIMEOUT`` (5, 0 for none): how long a statement waits for a table
  lock (PostgreSQL ``lock_timeout``, MariaDB/MySQL ``lock_wait_timeout``).
- ``MIGRATION_STATEMENT_TIMEOUT`` (600, 0 for none): how long a statement may run
  (PostgreSQL ``statement_timeout``, MariaDB ``max_statement_time``).
- ``MIGRATION_LOCK_RETRIES`` (0): how many more times a revision that gave up on a
  table lock is tried, a second apart.
"""

import hashlib
import logging
import math
import os
import time
from contextlib import contextmanager
from logging.config import fileConfig

import sqlalchemy as sa
from alembic import context
from alembic.util import CommandError

from app import create_app
from app.config import database_url
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


def app_engine() -> sa.Engine:
    """The engine Flask-SQLAlchemy builds from the app's config (``DATABASE_URL``).

    The URL never goes through ``alembic.ini``: a ``%`` in a password would break
    configparser, and printing the config would show the password.
    """
    try:
        database_url(os.environ.get("DATABASE_URL"))
        app = create_app()
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


def set_session(connection: sa.Connection, template: str, values: dict) -> None:
    """Set session variables, one ``template.format(name=..., value=...)`` each."""
    for name, value in values.items():
        connection.exec_driver_sql(template.format(name=name, value=value))


@contextmanager
def postgresql_run_lock(connection: sa.Connection):
    """Hold a session advisory lock for the run, then set the statement timeouts.

    The lock outlives each revision's commit and ends with the session, also when the
    migrator is killed. Waiting for it is bounded by ``MIGRATION_RUN_LOCK_WAIT`` alone:
    the migration's own timeouts are set once the lock is held.
    """
    database = connection.exec_driver_sql("SELECT current_database()").scalar()
    digest = hashlib.sha256(f"{database}.{VERSION_TABLE}".encode()).digest()
    key = int.from_bytes(digest[:8], "big", signed=True)
    wait = {
        "lock_timeout": max(setting("MIGRATION_RUN_LOCK_WAIT", 300) * 1000, 1),
        "statement_timeout": 0,  # a role's default must not cut the wait short
    }
    set_session(connection, "SET {name} = {value:.0f}", wait)
    try:
        connection.exec_driver_sql(f"SELECT pg_advisory_lock({key})")
    except sa.exc.OperationalError as error:
        if is_lock_timeout(error):
            raise run_lock_busy() from error
        raise
    timeouts = {
        "lock_timeout": setting("MIGRATION_LOCK_TIMEOUT", 5) * 1000,
        "statement_timeout": setting("MIGRATION_STATEMENT_TIMEOUT", 600) * 1000,
    }
    if connection.dialect.server_version_info >= (14,):
        # A killed migrator's session ends within a second, even mid-statement,
        # instead of holding its locks until that statement is done.
        timeouts["client_connection_check_interval"] = 1000
    set_session(connection, "SET {name} = {value:.0f}", timeouts)
    connection.commit()  # so that each revision gets a transaction of its own
    try:
        yield {}
    finally:
        release(
            connection, f"SELECT pg_advisory_unlock({key})", "RESET {name}", timeouts
        )


@contextmanager
def mysql_run_lock(connection: sa.Connection):
    """Hold a named lock (``GET_LOCK``) for the run, then set the statement timeouts.

    Like PostgreSQL's advisory lock, it outlives each revision's commit and ends with
    the session. Lock names are server-wide, so the name includes the database's.
    """
    name = f"alembic.{connection.exec_driver_sql('SELECT DATABASE()').scalar()}"
    name = f"{name}.{VERSION_TABLE}"
    wait = setting("MIGRATION_RUN_LOCK_WAIT", 300)
    lock = sa.text("SELECT GET_LOCK(:name, :wait)")
    if connection.execute(lock, {"name": name, "wait": wait}).scalar() != 1:
        raise run_lock_busy()
    timeouts = {}
    if lock_timeout := math.ceil(setting("MIGRATION_LOCK_TIMEOUT", 5)):
        timeouts["lock_wait_timeout"] = lock_timeout  # DDL waiting on a table
        timeouts["innodb_lock_wait_timeout"] = lock_timeout  # a data step on rows
    if connection.dialect.is_mariadb:
        timeouts["max_statement_time"] = setting("MIGRATION_STATEMENT_TIMEOUT", 600)
    set_session(connection, "SET SESSION {name} = {value}", timeouts)
    connection.commit()  # so that each revision gets a transaction of its own
    sa.event.listen(connection, "after_cursor_execute", note_kept_ddl)
    try:
        yield {"on_version_apply": [lambda **kwargs: KEPT_DDL.clear()]}
    finally:
        sa.event.remove(connection, "after_cursor_execute", note_kept_ddl)
        unlock = f"DO RELEASE_LOCK('{name}')"
        release(connection, unlock, "SET SESSION {name} = DEFAULT", timeouts)


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


def release(connection: sa.Connection, unlock: str, reset: str, values: dict) -> None:
    """End the run: roll back what a failure left open, release the run lock, reset
    the session. A connection that died has released them already."""
    try:
        connection.rollback()
        connection.exec_driver_sql(unlock)
        set_session(connection, reset, values)
        connection.commit()
    except sa.exc.DBAPIError as error:
        log.warning("The run lock ends with the connection: %s", one_line(error))


@contextmanager
def sqlite_run_lock(connection: sa.Connection):
    """Run the whole migration in one ``BEGIN IMMEDIATE`` transaction: SQLite's write
    lock, taken before the current revision is read. A savepoint after each revision
    keeps the good ones when a later one fails.

    SQLAlchemy's pysqlite recipe ("Serializable isolation / Savepoints / Transactional
    DDL"): the driver stops beginning and committing transactions on its own, so DDL
    rolls back too. Foreign keys go off first, as batch mode needs (it copies, drops
    and renames tables); the pragma does nothing inside a transaction.
    """
    driver_connection = connection.connection.driver_connection
    pragmas = ("foreign_keys", "busy_timeout")
    was = {
        name: driver_connection.execute(f"PRAGMA {name}").fetchone()[0]
        for name in pragmas
    }
    wait = setting("MIGRATION_RUN_LOCK_WAIT", 300)
    isolation_level = driver_connection.isolation_level
    driver_connection.isolation_level = None
    driver_connection.execute("PRAGMA foreign_keys = OFF")
    driver_connection.execute(f"PRAGMA busy_timeout = {wait * 1000:.0f}")
    sa.event.listen(connection, "begin", begin_immediate)
    try:
        transaction = connection.begin()
    except sa.exc.OperationalError as error:
        raise run_lock_busy() from error
    finally:
        sa.event.remove(connection, "begin", begin_immediate)
    try:
        with keep_good_revisions(connection) as after_each_revision:
            yield {"transactional_ddl": True, "on_version_apply": [after_each_revision]}
    finally:
        if transaction.is_active:
            transaction.commit()  # the revisions that succeeded
        driver_connection.isolation_level = isolation_level
        for name, value in was.items():
            driver_connection.execute(f"PRAGMA {name} = {value}")


def begin_immediate(connection: sa.Connection) -> None:
    """Begin SQLite's transaction with the write lock, instead of at the first write."""
    connection.exec_driver_sql("BEGIN IMMEDIATE")


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


def run_revisions(connection: sa.Connection, **options) -> None:
    """Configure Alembic on the connection and run what the command asks for."""
    context.configure(connection=connection, **MIGRATION_OPTIONS, **options)
    with context.begin_transaction():
        context.run_migrations()


def run_with_lock_retries(connection: sa.Connection, **options) -> None:
    """Run the revisions; one that gave up on a table lock was rolled back, so it is
    tried again, ``MIGRATION_LOCK_RETRIES`` times at most."""
    retries = setting("MIGRATION_LOCK_RETRIES", 0, kind=int)
    for attempt in range(1, retries + 2):
        try:
            return run_revisions(connection, **options)
        except sa.exc.OperationalError as error:
            if attempt > retries or not is_lock_timeout(error):
                raise
            log.warning(
                "A table lock is busy; trying again (%s of %s)", attempt, retries
            )
            time.sleep(1)


def run_migrations_on(connection: sa.Connection) -> None:
    """Run the migrations on one live connection, holding the run lock if it migrates.

    A connection handed in inside its own transaction is the caller's to manage: it
    runs as is, without a lock.
    """
    command = getattr(config.cmd_opts, "cmd", None)
    migrating = command is None or command[0].__name__ in MIGRATING_COMMANDS
    if not migrating or connection.in_transaction():
        return run_revisions(connection)
    with RUN_LOCKS[connection.dialect.name](connection) as options:
        run_with_lock_retries(connection, **options)


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


def one_line(error: sa.exc.DBAPIError) -> str:
    """The database's own message, first line: no SQL, parameters or URL in it."""
    reason = error.orig.args[-1] if error.orig.args else error.orig
    line = str(reason).strip().splitlines()[0]
    return line.removeprefix("connection failed: ").replace("FATAL:  ", "")


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
