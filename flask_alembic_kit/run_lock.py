"""One migrator at a time: the run lock of each database, held from before the current
revision is read until the run ends (docs/production.md).

- PostgreSQL: a session advisory lock, then the session timeouts.
- MariaDB/MySQL: a named lock (``GET_LOCK``), the session timeouts, and a note of the
  DDL statements a failing revision leaves committed (``kept_ddl.py``).
- SQLite: the write lock of one ``BEGIN IMMEDIATE`` transaction (``sqlite.py``).

Each lock outlives the commit of each revision and ends with the session, also when
the migrator is killed. ``current`` and ``check`` only read and take no lock.
"""

import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import sqlalchemy as sa
from alembic.util import CommandError

from flask_alembic_kit import sqlite
from flask_alembic_kit.errors import (
    MigrationFailed,
    callers_own,
    database_is_at,
    is_lock_timeout,
    network_lost,
    one_line,
    revision_failed,
    revision_raised,
    run_lock_busy,
    waiting_for_run_lock,
)
from flask_alembic_kit.history_errors import behind_head_explained, explained
from flask_alembic_kit.internals import command_function
from flask_alembic_kit.journal import Journal
from flask_alembic_kit.kept_ddl import KeptDdl
from flask_alembic_kit.network import is_network_timeout
from flask_alembic_kit.ordering import cycles_handled
from flask_alembic_kit.settings import Settings, milliseconds
from flask_alembic_kit.state import database_heads
from flask_alembic_kit.timeouts import session_statements

log = logging.getLogger("alembic.env")

VERSION_TABLE = "alembic_version"

# The commands that write to the database, and so take the run lock. ``current`` and
# ``check`` only read: they must not wait behind a long migration.
MIGRATING_COMMANDS = frozenset({"upgrade", "downgrade", "stamp"})


@dataclass
class Run:
    """What the run lock gives the run: options for ``context.configure`` (hooks
    after each revision, SQLite's transactional DDL) and, on MariaDB/MySQL, the DDL
    the revision under way has committed (a rerun would repeat it)."""

    options: dict = field(default_factory=dict)
    kept_ddl: KeptDdl = field(default_factory=lambda: KeptDdl(VERSION_TABLE))
    # The revision the database was at when the last revision completed (or when
    # the run began): where it is when the connection can no longer say.
    reached: str | None = None

    def add_hooks(self, hooks) -> "Run":
        """The run, with more ``on_version_apply`` hooks after its own."""
        self.options.setdefault("on_version_apply", []).extend(hooks)
        return self

    def note_revision(self, step, heads, **kwargs) -> None:
        """An ``on_version_apply`` hook: a revision is done."""
        self.reached = ", ".join(sorted(heads)) or "base"


def command_of(config) -> str | None:
    """The ``alembic`` command being run (``upgrade``, ``check``, ...), or ``None``
    when a caller runs env.py without one (tests, tools)."""
    options = config.cmd_opts
    if getattr(options, "cmd", None) is None:
        return None
    return command_function(options)[0].__name__


def is_migrating(config) -> bool:
    """Whether the ``alembic`` command writes to the database. A caller that runs
    env.py without a command is taken to migrate."""
    command = command_of(config)
    return command is None or command in MIGRATING_COMMANDS


@contextmanager
def run_lock(
    connection: sa.Connection,
    settings: Settings,
    *hooks,
    migrating: bool,
    version_table: str = VERSION_TABLE,
) -> Iterator[Run]:
    """Hold the database's run lock while the block runs, when the command migrates;
    ``hooks`` run after each revision (``on_version_apply``), after the lock's own.

    A connection handed in inside its caller's transaction is the caller's to
    manage: it runs as is, without a lock. A revision that fails becomes one error
    that names the revision the database is left at.
    """
    if not migrating:
        # SQLite migrates with transactional DDL (sqlite.py): check and revision say
        # so too, rather than "Will assume non-transactional DDL".
        sqlite_ddl = (
            {"transactional_ddl": True} if connection.dialect.name == "sqlite" else {}
        )
        with (
            behind_head_explained(lambda: revision_of(connection, version_table)),
            cycles_handled(),
        ):
            yield Run(sqlite_ddl)
        return
    if connection.in_transaction():
        sqlite.foreign_keys_off_in_transaction(connection)
        yield Run().add_hooks(hooks)
        return
    lock = RUN_LOCKS[connection.dialect.name]
    run = Run()
    try:
        with lock(connection, settings, version_table) as run:
            if connection.dialect.name != "sqlite":  # no network to lose there
                run.reached = revision_of(connection, version_table)
            yield run.add_hooks([run.note_revision, *hooks])
    except sa.exc.DBAPIError as error:
        if is_network_timeout(error):  # the connection can say nothing more
            seconds = settings.network_timeout
            raise network_lost(error, seconds, run.reached, run.kept_ddl) from error
        if error.statement is None:  # the connection itself failed
            raise
        where = revision_of(connection, version_table)
        raise revision_failed(error, where, run.kept_ddl) from error
    except MigrationFailed as error:  # refused by this package, in a revision
        where = database_is_at(revision_of(connection, version_table), run.kept_ddl)
        raise MigrationFailed(f"{error}. {where}") from error
    except CommandError as error:  # Alembic's own, already one line
        said = explained(error, lambda: revision_of(connection, version_table))
        if said is None:
            raise
        raise said from error
    except Exception as error:  # a bug in a revision's Python code
        if callers_own(error):
            raise
        where = revision_of(connection, version_table)
        raise revision_raised(error, where, run.kept_ddl) from error


def revision_of(
    connection: sa.Connection, version_table: str = VERSION_TABLE
) -> str | None:
    """The revision the database is at (``base`` when none), or ``None`` when the
    connection can no longer say."""
    try:
        heads = database_heads(connection, version_table)
        connection.rollback()
    except sa.exc.DBAPIError:
        return None
    return ", ".join(heads) or "base"


@contextmanager
def session(connection: sa.Connection, settings: Settings, release: str):
    """Set the session timeouts and commit; at the end, roll back what a failure
    left open, put the defaults back and run ``release``. A dead connection has
    released everything already."""
    set_timeouts, reset_timeouts = session_statements(connection, settings)
    try:
        for statement in set_timeouts:
            connection.exec_driver_sql(statement)
        connection.commit()
        yield
    finally:
        # A connection lost on the way (invalidated) is not reopened to clean up:
        # the server ends that session, and frees what it held, by itself.
        if not connection.invalidated:
            end_session(connection, [*reset_timeouts, release])


def end_session(connection: sa.Connection, statements: list[str]) -> None:
    """Roll back what a failure left open, then run ``statements`` and commit."""
    try:
        connection.rollback()
        for statement in statements:
            connection.exec_driver_sql(statement)
        connection.commit()
    except sa.exc.DBAPIError as error:
        log.warning("The run lock ends with the connection: %s", one_line(error))


@contextmanager
def postgresql_run_lock(
    connection: sa.Connection, settings: Settings, version_table: str
):
    """A session advisory lock, keyed by the database's and version table's names.

    Waiting for it is bounded by ``MIGRATION_RUN_LOCK_WAIT`` alone: the migration's
    own timeouts are set once the lock is held.
    """
    database = connection.exec_driver_sql("SELECT current_database()").scalar()
    digest = hashlib.sha256(f"{database}.{version_table}".encode()).digest()
    key = int.from_bytes(digest[:8], "big", signed=True)
    wait = max(milliseconds(settings.run_lock_wait), 1)
    connection.exec_driver_sql(f"SET lock_timeout = {wait}")
    connection.exec_driver_sql("SET statement_timeout = 0")  # a role's default
    try:
        free = connection.exec_driver_sql(f"SELECT pg_try_advisory_lock({key})")
        if not free.scalar():
            if not settings.run_lock_wait:
                raise run_lock_busy()
            log.info(waiting_for_run_lock(settings))
            connection.exec_driver_sql(f"SELECT pg_advisory_lock({key})")
    except sa.exc.OperationalError as error:
        if is_lock_timeout(error):
            raise run_lock_busy() from error
        raise
    with session(connection, settings, release=f"SELECT pg_advisory_unlock({key})"):
        yield Run()


@contextmanager
def mysql_run_lock(connection: sa.Connection, settings: Settings, version_table: str):
    """A named lock (``GET_LOCK``). Lock names are server-wide, so the name includes
    the database's."""
    database = connection.exec_driver_sql("SELECT DATABASE()").scalar()
    name = f"alembic.{database}.{version_table}"
    if len(name) > 64:  # MySQL refuses longer lock names
        name = f"alembic.{hashlib.sha256(name.encode()).hexdigest()[:56]}"
    lock = sa.text("SELECT GET_LOCK(:name, :wait)")
    if connection.execute(lock, {"name": name, "wait": 0}).scalar() != 1:
        if not settings.run_lock_wait:
            raise run_lock_busy()
        log.info(waiting_for_run_lock(settings))
        held = connection.execute(lock, {"name": name, "wait": settings.run_lock_wait})
        if held.scalar() != 1:
            raise run_lock_busy()
    kept_ddl = KeptDdl(version_table)
    journal = Journal(version_table)  # a rerun resumes a revision cut short
    release = f"DO RELEASE_LOCK('{name}')"
    with session(connection, settings, release), kept_ddl.watching(connection):
        heads = ", ".join(database_heads(connection, version_table))
        journal.open(connection, heads)
        journal.attach(connection)
        try:
            hooks = [kept_ddl.next_revision, journal.revision_done]
            yield Run({"on_version_apply": hooks}, kept_ddl)
            journal.close(connection)
        finally:
            journal.detach(connection)


@contextmanager
def sqlite_run_lock(connection: sa.Connection, settings: Settings, version_table: str):
    """The write lock of one ``BEGIN IMMEDIATE`` transaction, with transactional
    DDL and a savepoint after each revision (``sqlite.py``)."""
    with sqlite.write_lock(connection, settings) as options:
        yield Run(options)


RUN_LOCKS = {
    "postgresql": postgresql_run_lock,
    "mysql": mysql_run_lock,
    "mariadb": mysql_run_lock,
    "sqlite": sqlite_run_lock,
}
