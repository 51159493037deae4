"""``migration-review --trace``: run the reviewed revisions on throw-away databases
and measure what each statement does, instead of guessing it from the text.

Each history (the default database's, and each bind's: its alembic.ini section and
version table) on its own. On each database (SQLite always; PostgreSQL and
MariaDB/MySQL when a server is given), in a database created for the trace and
dropped afterwards (on failure and Ctrl-C too; ``trace_servers.py``): the real
history up to the first reviewed revision's parent, every table filled with
generated rows (``fill.py``), then each reviewed revision in order, statement by
statement (``recorder.py``): its time, whether it succeeded; on PostgreSQL the locks
it took on relations that existed before the revision and the tables or indexes it
rewrote; on MariaDB/MySQL the ALTER algorithm the server needs for it. Then the
round trip (downgrade, upgrade again) and, at the history's head, the comparison
``alembic check`` makes. After each revision of the expand phase, the base's models,
which serve meanwhile, insert, select, update and delete a row of each class
(``running_release.py``). What it finds becomes findings, as the linter's do.
"""

import argparse
import io
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.util import CommandError

from flask_alembic_kit.errors import first_line
from flask_alembic_kit.network import add_connect_timeout
from flask_alembic_kit.sections import history_config
from tools.fill import fill_tables
from tools.interrupts import ctrl_c_noted, stop_if_interrupted
from tools.recorder import Recorder, StatementTrace
from tools.revision_source import RevisionSource
from tools.running_release import ReleaseCheck, RunningRelease
from tools.trace_findings import DATABASE_NAMES, with_op_lines
from tools.trace_servers import connect_timeout, traced_database


@dataclass
class RevisionTrace:
    """What one revision did on one database."""

    statements: list[StatementTrace] = field(default_factory=list)
    error: str | None = None  # the upgrade failed: its first line
    round_trip: str | None = None  # "ok", the failing step's first line, or not run
    models_differ: str | None = None  # at the head: what `alembic check` said
    not_traced: str | None = None  # why an earlier revision's failure stopped it
    # In the expand phase: the base's models against the database after it.
    running_release: ReleaseCheck | None = None

    def as_dict(self) -> dict:
        """The JSON form."""
        return {
            "statements": [statement.as_dict() for statement in self.statements],
            "error": self.error,
            "round_trip": self.round_trip,
            "models_differ": self.models_differ,
            "not_traced": self.not_traced,
            "running_release": (
                self.running_release.as_dict() if self.running_release else None
            ),
        }


@dataclass
class DatabaseTrace:
    """One database's trace: the server, the rows generated, each revision's part."""

    database: str
    server_version: str = ""
    rows: int = 0
    filled: dict[str, str] = field(default_factory=dict)
    revisions: dict[str, RevisionTrace] = field(default_factory=dict)
    error: str | None = None  # the trace could not start (the history before failed)
    seconds: float = 0.0


@dataclass(frozen=True)
class TracedHistory:
    """The history the traced revisions belong to: its alembic.ini section
    (``alembic -n``) and its version table."""

    section: str = "alembic"
    version_table: str = "alembic_version"
    # The revisions the expand phase applies, and the base's models that serve
    # meanwhile (``running_release.py``), checked after each of them.
    expand_phase: tuple[str, ...] = ()
    running_release: RunningRelease | None = None


def alembic_config(
    config_path: Path, engine: sa.Engine, section: str = "alembic"
) -> Config:
    """The project's Alembic config (one history's ``section``), migrating on
    ``engine``."""
    config = history_config(config_path, section, stdout=io.StringIO())
    config.attributes["connection"] = engine
    return config


def trace_database(
    name: str,
    server: sa.URL | None,
    config_path: Path,
    revisions: list[RevisionSource],
    rows: int,
    head: str | None,
    history: TracedHistory,
) -> DatabaseTrace:
    """Trace ``revisions`` (in order, each a ``RevisionSource`` of ``history``) on
    one database."""
    result = DatabaseTrace(DATABASE_NAMES[name], rows=rows)
    with traced_database(name, server) as url:
        engine = sa.create_engine(url)
        add_connect_timeout(engine, connect_timeout())
        try:
            trace_on(engine, config_path, revisions, result, head, history)
        finally:
            engine.dispose()
    return result


def trace_on(
    engine: sa.Engine,
    config_path: Path,
    revisions: list[RevisionSource],
    result: DatabaseTrace,
    head: str | None,
    history: TracedHistory,
) -> None:
    """The trace itself, on a fresh database behind ``engine``."""
    config = alembic_config(config_path, engine, history.section)
    first_parent = parent_of(revisions[0])
    with engine.connect() as connection:
        result.server_version = server_version(connection)
    try:
        run(config, command.upgrade, first_parent)
    except Exception as error:  # noqa: BLE001 - any failure is reported
        result.error = f"the history up to {first_parent} failed: {first_line(error)}"
        return
    with engine.begin() as connection:
        result.filled = fill_tables(connection, result.rows, history.version_table)
    stop_if_interrupted()
    recorder = Recorder(engine, history.version_table)
    for source in revisions:
        trace = result.revisions.setdefault(source.revision, RevisionTrace())
        recorder.start(source.path)
        try:
            run(config, command.upgrade, source.revision)
        except Exception as error:  # noqa: BLE001 - any failure is reported
            trace.error = first_line(error)
        finally:
            trace.statements = with_op_lines(recorder.stop(), source)
        if trace.error is None:
            trace.round_trip = round_trip(config, source.revision)
        if trace.error is not None or trace.round_trip != "ok":
            # The database is not where the next revision starts: say so for each.
            why = f"not traced: {source.revision} failed here"
            for later in revisions[revisions.index(source) + 1 :]:
                result.revisions[later.revision] = RevisionTrace(not_traced=why)
            return
        if history.running_release and source.revision in history.expand_phase:
            check = history.running_release.check(engine.url, result.rows)
            trace.running_release = check
    if head is not None and revisions[-1].revision == head:
        try:
            run(config, command.check)
        except CommandError as error:
            result.revisions[head].models_differ = str(error).strip()


def parent_of(source: RevisionSource) -> str:
    """The revision a revision file revises (``base`` for the first)."""
    parent = source.down_revision
    if isinstance(parent, (list, tuple)):
        parent = parent[0] if parent else None
    return parent or "base"


def run(config: Config, function, *arguments) -> None:
    """An ``alembic`` command, run as the command line runs it (env.py reads the
    command's name: ``check`` prints each difference as an op)."""
    stop_if_interrupted()
    config.cmd_opts = argparse.Namespace(cmd=(function,), raiseerr=False)
    function(config, *arguments)
    stop_if_interrupted()


def round_trip(config: Config, revision: str) -> str:
    """Down one revision and up again: "ok", or the failing step and its line."""
    for step, function, target in (
        ("downgrade", command.downgrade, "-1"),
        ("upgrade again", command.upgrade, revision),
    ):
        try:
            run(config, function, target)
        except Exception as error:  # noqa: BLE001 - any failure is reported
            return f"{step}: {first_line(error)}"
    return "ok"


def server_version(connection: sa.Connection) -> str:
    """The server's name and version, as the report shows them."""
    dialect = connection.dialect.name
    if dialect == "postgresql":
        return (
            "PostgreSQL " + connection.exec_driver_sql("SHOW server_version").scalar()
        )
    if dialect in ("mysql", "mariadb"):
        return connection.exec_driver_sql("SELECT VERSION()").scalar()
    return "SQLite " + connection.exec_driver_sql("SELECT sqlite_version()").scalar()


def trace(
    config_path: Path,
    revisions: list[RevisionSource],
    rows: int,
    servers: dict[str, sa.URL | None],
    head: str | None,
    history: TracedHistory = TracedHistory(),
) -> dict[str, DatabaseTrace]:
    """Trace the reviewed revisions of one ``history`` on every database (each a
    database of its own, with that history's config): name -> its trace."""
    # env.py logs each step at INFO; the report shows what the steps did.
    previous_disable = logging.root.manager.disable
    logging.disable(logging.INFO)
    try:
        with ctrl_c_noted():
            traces = {}
            for name, server in servers.items():
                started = time.monotonic()
                traces[name] = trace_database(
                    name, server, config_path, revisions, rows, head, history
                )
                traces[name].seconds = round(time.monotonic() - started, 1)
            return traces
    finally:
        logging.disable(previous_disable)
