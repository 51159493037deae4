"""``migration-review --trace``: run the reviewed revisions on throw-away databases
and measure what each statement does, instead of guessing it from the text.

On each database (SQLite always; PostgreSQL and MariaDB/MySQL when a server is
given), in a database created for the trace and dropped afterwards (on failure and
Ctrl-C too): the real history up to the first reviewed revision's parent, every
table filled with generated rows (``fill.py``), then each reviewed revision in
order, statement by statement (``recorder.py``): its time, whether it succeeded;
on PostgreSQL the locks it took on relations that existed before the revision and
the tables or indexes it rewrote; on MariaDB/MySQL the ALTER algorithm the server
needs for it. Then the round trip (downgrade, upgrade again) and, at the history's
head, the comparison ``alembic check`` makes. What it finds becomes findings, as
the linter's do.
"""

import argparse
import io
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.util import CommandError

from app.config import SettingError, database_url
from tools import lint
from tools.databases import create_database, drop_database
from tools.fill import fill_tables
from tools.recorder import Recorder, StatementTrace, blocks_writes
from tools.render import Statement
from tools.revision_source import Op
from tools.squawk import op_for

TRACE_RULES = {
    "blocking-lock": (
        "A statement took a lock that blocks writes on a table that existed before "
        "the revision, and held it long at the traced row count, or while the "
        "revision ran further statements in the same transaction: writers queue "
        "behind it, and every query queues behind them.",
        "Take the lock last and briefly: a separate revision for the slow step; "
        "CREATE INDEX CONCURRENTLY (in an autocommit_block); a NOT VALID constraint "
        "validated in a later revision; on MariaDB an ALTER that runs INPLACE with "
        "LOCK=NONE.",
    ),
    "table-rewrite": (
        "The statement rewrote a table or index that existed before the revision "
        "(PostgreSQL) or copied the table (MariaDB/MySQL ALGORITHM=COPY): it takes "
        "time proportional to the table, under a lock.",
        "Avoid the rewrite: a new column and a backfill instead of a type change; an "
        "ALTER the server runs INSTANT or INPLACE; or run it at a quiet time and "
        "acknowledge it.",
    ),
    "dialect-failed": (
        "The revision fails on one of the databases this project supports.",
        "Make the op portable (the way autogenerate renders it here), or guard the "
        "dialect-specific part with op.get_context().dialect.name.",
    ),
    "round-trip-failed": (
        "The revision does not go down and up again: downgrade() leaves something "
        "behind (a PostgreSQL enum type, an index) or fails.",
        "Make downgrade() undo exactly what upgrade() does, then run "
        "`alembic downgrade -1 && alembic upgrade head` on each database.",
    ),
    "models-differ": (
        "At the history's head, the database and the models differ: the next "
        "autogenerate writes these changes, and `alembic check` fails.",
        'Write them in a revision (`alembic revision --autogenerate -m "..."`), or '
        "change the models back.",
    ),
}

DATABASE_NAMES = {
    "postgresql": "PostgreSQL",
    "mysql": "MariaDB/MySQL",
    "sqlite": "SQLite",
}


@dataclass
class RevisionTrace:
    """What one revision did on one database."""

    statements: list[StatementTrace] = field(default_factory=list)
    error: str | None = None  # the upgrade failed: its first line
    round_trip: str | None = None  # "ok", the failing step's first line, or not run
    models_differ: str | None = None  # at the head: what `alembic check` said

    def as_dict(self) -> dict:
        """The JSON form."""
        return {
            "statements": [statement.as_dict() for statement in self.statements],
            "error": self.error,
            "round_trip": self.round_trip,
            "models_differ": self.models_differ,
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


class TraceError(Exception):
    """A server given for the trace that is not a URL or does not answer."""


def server_urls(postgresql: str | None, mysql: str | None) -> dict[str, sa.URL]:
    """The servers to trace on: the options, else ``TEST_POSTGRESQL_URL`` and
    ``TEST_MYSQL_URL``; SQLite always (``None``: a temporary file)."""
    urls = {"sqlite": None}
    for name, given, option, variable in (
        ("postgresql", postgresql, "--postgresql", "TEST_POSTGRESQL_URL"),
        ("mysql", mysql, "--mysql", "TEST_MYSQL_URL"),
    ):
        value = given or os.environ.get(variable)
        if not value:
            continue
        try:
            urls[name] = database_url(value)
        except SettingError as error:
            reason = str(error).split(" (", 1)[-1].rstrip(")")
            where = option if given else variable
            raise TraceError(f"{where} is not a database URL ({reason})") from None
        if urls[name].get_backend_name() != name:
            where = option if given else variable
            raise TraceError(f"{where} is not a {DATABASE_NAMES[name]} URL")
    return urls


@contextmanager
def traced_database(name: str, server: sa.URL | None) -> Iterator[sa.URL]:
    """A database made for the trace, dropped after it whatever happens."""
    if server is None:
        with tempfile.TemporaryDirectory(prefix="migration-trace-") as directory:
            yield sa.URL.create("sqlite", database=f"{directory}/trace.sqlite")
        return
    try:
        url = create_database(server, "migration_trace")
    except sa.exc.DBAPIError as error:
        shown = server.render_as_string(hide_password=True)
        line = str(error.orig).strip().splitlines()[0]
        raise TraceError(f"cannot create a database on {shown}: {line}") from None
    try:
        yield url
    finally:
        drop_database(server, url)


def first_line(error: BaseException) -> str:
    """An error's first line, without Alembic's hint to ``--raiseerr``."""
    text = str(error).strip().splitlines()
    line = text[0] if text else type(error).__name__
    return line.split(" Run with --raiseerr")[0]


def alembic_config(config_path: Path, engine: sa.Engine) -> Config:
    """The project's Alembic config, migrating on ``engine``."""
    config = Config(str(config_path), stdout=io.StringIO())  # not the report's
    config.attributes["connection"] = engine
    return config


def trace_database(
    name: str,
    server: sa.URL | None,
    config_path: Path,
    revisions: list,
    rows: int,
    head: str | None,
) -> DatabaseTrace:
    """Trace ``revisions`` (in order, each a ``RevisionSource``) on one database."""
    result = DatabaseTrace(DATABASE_NAMES[name], rows=rows)
    with traced_database(name, server) as url:
        engine = sa.create_engine(url)
        try:
            trace_on(engine, config_path, revisions, result, head)
        finally:
            engine.dispose()
    return result


def trace_on(engine, config_path, revisions, result: DatabaseTrace, head) -> None:
    """The trace itself, on a fresh database behind ``engine``."""
    config = alembic_config(config_path, engine)
    first_parent = parent_of(revisions[0])
    with engine.connect() as connection:
        result.server_version = server_version(connection)
    try:
        run(config, command.upgrade, first_parent)
    except Exception as error:  # noqa: BLE001 - any failure is reported
        result.error = f"the history up to {first_parent} failed: {first_line(error)}"
        return
    with engine.begin() as connection:
        result.filled = fill_tables(connection, result.rows)
    recorder = Recorder(engine)
    for source in revisions:
        trace = result.revisions.setdefault(source.revision, RevisionTrace())
        recorder.start(source.path)
        try:
            run(config, command.upgrade, source.revision)
        except Exception as error:  # noqa: BLE001 - any failure is reported
            trace.error = first_line(error)
        finally:
            trace.statements = with_op_lines(recorder.stop(), source)
        if trace.error is not None:
            return  # the database is at the last good revision: nothing more to run
        trace.round_trip = round_trip(config, source.revision)
        if trace.round_trip != "ok":
            return
    if head is not None and revisions[-1].revision == head:
        try:
            run(config, command.check)
        except CommandError as error:
            result.revisions[head].models_differ = str(error).strip()


def parent_of(source) -> str:
    """The revision a revision file revises (``base`` for the first)."""
    parent = source.down_revision
    if isinstance(parent, (list, tuple)):
        parent = parent[0] if parent else None
    return parent or "base"


def run(config: Config, function, *arguments) -> None:
    """An ``alembic`` command, run as the command line runs it (env.py reads the
    command's name: ``check`` prints each difference as an op)."""
    config.cmd_opts = argparse.Namespace(cmd=(function,), raiseerr=False)
    function(config, *arguments)


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
    revisions: list,
    rows: int,
    servers: dict[str, sa.URL | None],
    head: str | None,
) -> dict[str, DatabaseTrace]:
    """Trace the reviewed revisions on every database: name -> its trace."""
    # env.py logs each step at INFO; the report shows what the steps did.
    previous_disable = logging.root.manager.disable
    logging.disable(logging.INFO)
    try:
        traces = {}
        for name, server in servers.items():
            started = time.monotonic()
            traces[name] = trace_database(
                name, server, config_path, revisions, rows, head
            )
            traces[name].seconds = round(time.monotonic() - started, 1)
        return traces
    finally:
        logging.disable(previous_disable)


def op_of(statement: StatementTrace, statements: list, source) -> Op | None:
    """The op of the revision file that wrote a traced statement (batch ops run
    at the end of their ``with`` block: placed as the review places their SQL)."""
    written = [Statement(each.sql, each.line) for each in statements]
    return op_for(written[statements.index(statement)], written, source)


def with_op_lines(statements: list[StatementTrace], source) -> list:
    """The statements, each with the line of the op that wrote it (a batch op's
    statements run at the end of its ``with`` block, whose line the stack shows)."""
    ops = [op_of(statement, statements, source) for statement in statements]
    for statement, op in zip(statements, ops, strict=True):
        if op is not None:
            statement.line = op.line
    for statement in statements:
        for lock in statement.locks:
            if lock.since_statement is not None:
                lock.since_line = statements[lock.since_statement].line
    return statements


def findings(
    traces: dict[str, DatabaseTrace], source, max_lock_ms: float
) -> list[tuple[lint.Finding, Op | None]]:
    """The trace's findings for one revision (a ``RevisionSource``), on every
    database, each with the op that wrote the statement, if known."""
    found = []

    def finding(rule: str, detail: str, op: Op | None = None) -> None:
        """One finding of ``rule``, with what the trace saw."""
        why, instead = TRACE_RULES[rule]
        item = lint.Finding(
            rule=rule,
            revision=source.revision,
            why=f"{why} {detail}",
            instead=instead,
            line=op.line if op else None,
            op=op.text if op else None,
            source="trace",
        )
        found.append((item, op))

    for database, database_trace in traces.items():
        trace = database_trace.revisions.get(source.revision)
        label = DATABASE_NAMES[database]
        if trace is None:
            continue
        if trace.error is not None:
            finding("dialect-failed", f"On {label}: {trace.error}")
        if trace.round_trip not in (None, "ok"):
            finding("round-trip-failed", f"On {label}, {trace.round_trip}")
        if trace.models_differ:
            differences = "; ".join(
                line.strip() for line in trace.models_differ.splitlines()[1:-1]
            )
            detail = f"On {label}, a revision would contain: {differences}"
            finding("models-differ", detail)
        statements = trace.statements
        reported = set()  # tables whose blocking lock is reported already
        for index, statement in enumerate(statements):
            short = statement.short()
            op = op_of(statement, statements, source)
            if statement.rewrites:
                rewritten = ", ".join(statement.rewrites)
                finding(
                    "table-rewrite", f"On {label}, `{short}` rewrote {rewritten}.", op
                )
            # PostgreSQL holds a lock to the end of the revision's transaction;
            # MariaDB/MySQL commit each DDL statement, and its lock with it.
            if statement.in_transaction:
                held_ms = sum(s.ms for s in statements[index:])
                later = len(statements) - index - 1
            else:
                held_ms, later = statement.ms, 0
            blocking = [
                lock
                for lock in statement.locks
                if blocks_writes(lock)
                and not lock.index
                and lock.since_statement is None
                and lock.relation not in reported
            ]
            if blocking and (held_ms > max_lock_ms or later):
                reported |= {lock.relation for lock in blocking}
                locks = ", ".join(
                    f"{lock.mode} on {lock.relation} (blocks {lock.blocks})"
                    for lock in blocking
                )
                more = f" and over {later} more statement(s)" if later else ""
                finding(
                    "blocking-lock",
                    f"On {label}, `{short}` took {locks}, held {held_ms:.0f} ms"
                    f"{more} at {database_trace.rows:,} rows per table.",
                    op,
                )
    return found
