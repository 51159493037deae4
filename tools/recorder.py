"""What each statement of a revision does, measured on the database as it runs.

A ``Recorder`` listens to the engine the migration runs on (SQLAlchemy's
``before_cursor_execute`` / ``after_cursor_execute`` / ``handle_error`` events) and
keeps the statements the revision file wrote (its file is on the stack, as in
``render.py``), not env.py's own (run lock, timeouts, version table) nor catalog
reads. For each: its time and whether it succeeded, and

- PostgreSQL, as eugene traces it: the locks the migrating backend holds on
  relations that existed before the revision once the statement ran
  (``pg_locks``), the strongest per relation, with the line of the earlier
  statement that took it if the statement runs under a lock taken before it; and
  the tables and indexes whose file changed (``pg_class.relfilenode``): a rewrite.
- MariaDB/MySQL: the ALTER algorithm the server needs, found by asking it: the
  statement is tried on an empty copy of the table with ``ALGORITHM=INSTANT``, then
  ``ALGORITHM=INPLACE, LOCK=NONE``, then ``ALGORITHM=INPLACE``; COPY if none runs.
  A COPY is a rewrite.
"""

import re
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from psycopg import pq

from tools.render import real_path

# What a PostgreSQL table lock blocks, by mode (the documentation's conflict table:
# reads are ACCESS SHARE, writes ROW EXCLUSIVE).
POSTGRESQL_BLOCKS = {
    "AccessShareLock": "nothing",
    "RowShareLock": "nothing",
    "RowExclusiveLock": "nothing",
    "ShareUpdateExclusiveLock": "schema changes",
    "ShareLock": "writes",
    "ShareRowExclusiveLock": "writes",
    "ExclusiveLock": "writes",
    "AccessExclusiveLock": "reads and writes",
}

# Statements that only read the catalog (inspection by the ops themselves).
CATALOG_READ = re.compile(r"^\s*(SELECT|SHOW|PRAGMA|DESCRIBE|WITH)\b", re.IGNORECASE)

# The statements whose algorithm MariaDB/MySQL can be asked about, and their table.
ALTER_TABLE = re.compile(r"^\s*ALTER\s+TABLE\s+`?(\w+)`?\s+(.*)$", re.I | re.S)
INDEX_STATEMENT = re.compile(
    r"^\s*(CREATE\s+(?:UNIQUE\s+)?INDEX\s+\S+\s+ON|DROP\s+INDEX\s+\S+\s+ON)\s+`?(\w+)`?(.*)$",
    re.I | re.S,
)
PROBE_TABLE = "migration_trace_probe"
ALGORITHMS = (
    ("INSTANT", "ALGORITHM=INSTANT", "NONE"),
    ("INPLACE", "ALGORITHM=INPLACE, LOCK=NONE", "NONE"),
    ("INPLACE", "ALGORITHM=INPLACE", "SHARED"),
)


@dataclass
class Lock:
    """A table lock a statement took, and what it blocks."""

    relation: str
    mode: str
    blocks: str
    index: bool = False  # a lock on an index (its table's lock says what waits)
    since_statement: int | None = None  # taken by an earlier statement: its index
    since_line: int | None = None  # and the line of the op that wrote it

    def as_dict(self) -> dict:
        """The JSON form."""
        return {
            "relation": self.relation,
            "mode": self.mode,
            "blocks": self.blocks,
            "index": self.index,
            "since_line": self.since_line,
        }


def blocks_writes(lock: Lock) -> bool:
    """Whether the lock makes writers wait."""
    return "writes" in lock.blocks


@dataclass
class StatementTrace:
    """One statement the revision ran, and what it did."""

    sql: str
    line: int | None
    ms: float = 0.0
    ok: bool = True
    error: str | None = None
    locks: list[Lock] = field(default_factory=list)
    rewrites: list[str] = field(default_factory=list)
    algorithm: str | None = None
    in_transaction: bool = True

    def short(self, width: int = 70) -> str:
        """The statement on one line, shortened."""
        text = " ".join(self.sql.split())
        return text if len(text) <= width else text[: width - 1] + "…"

    def as_dict(self) -> dict:
        """The JSON form."""
        return {
            "sql": self.sql,
            "line": self.line,
            "ms": round(self.ms, 1),
            "ok": self.ok,
            "error": self.error,
            "locks": [lock.as_dict() for lock in self.locks],
            "rewrites": self.rewrites,
            "algorithm": self.algorithm,
        }


class Recorder:
    """Listens to ``engine`` and records the statements of one revision at a time."""

    def __init__(self, engine: sa.Engine) -> None:
        """Listen to the engine's statements."""
        self.engine = engine
        self.dialect = engine.dialect.name
        self.revision_path: str | None = None
        self.statements: list[StatementTrace] = []
        self.existing: dict[int, tuple] = {}  # PostgreSQL: oid -> (name, index?)
        self.tables: set[str] | None = None  # MariaDB/MySQL: the tables before
        self.current: StatementTrace | None = None
        self.before: dict = {}
        self.started = 0.0
        self.watcher: LockWatcher | None = None
        self.taken_on: dict[tuple[int, str], int] = {}  # lock -> statement index
        sa.event.listen(engine, "before_cursor_execute", self.before_statement)
        sa.event.listen(engine, "after_cursor_execute", self.after_statement)
        sa.event.listen(engine, "handle_error", self.failed_statement)

    def start(self, revision_path: Path) -> None:
        """Record the statements of this revision file from now on."""
        self.revision_path = str(revision_path.resolve())
        self.statements = []
        self.existing = {}
        self.tables = None
        self.taken_on = {}

    def stop(self) -> list[StatementTrace]:
        """Stop recording; the statements recorded."""
        self.revision_path = None
        return self.statements

    def revision_line(self) -> int | None:
        """The line of the revision file on the stack, if it is there."""
        frame = sys._getframe(2)
        while frame is not None:
            if real_path(frame.f_code.co_filename) == self.revision_path:
                return frame.f_lineno
            frame = frame.f_back
        return None

    def before_statement(self, conn, cursor, statement, parameters, context, many):
        """Note the state the statement starts from."""
        self.current = None
        if self.revision_path is None or CATALOG_READ.match(statement):
            return
        line = self.revision_line()
        if line is None:
            return
        raw = conn.connection.dbapi_connection
        current = StatementTrace(statement, line)
        if self.dialect == "postgresql":
            if not self.existing:
                self.existing = relations(raw)
            self.before = {
                "files": relation_files(raw),
                "locks": held_locks(raw),
            }
            if raw.info.transaction_status == pq.TransactionStatus.IDLE:
                # Outside a transaction its locks end with it: watch it run.
                current.in_transaction = False
                self.watcher = LockWatcher(self.engine, raw.info.backend_pid)
        if self.dialect in ("mysql", "mariadb"):
            current.in_transaction = False
            if self.tables is None:  # the revision's first statement
                self.tables = {name for (name,) in query(raw, "SHOW TABLES")}
            table = mysql_table(statement)
            probed = None
            if table in self.tables:  # a table the revision made has nothing to copy
                probed = probe_algorithm(raw, statement)
            if probed is not None:
                current.algorithm, lock = probed.split(", ")
                blocks = "nothing" if lock == "LOCK=NONE" else "writes"
                current.locks = [Lock(table, lock, blocks)]
                current.rewrites = [table] if current.algorithm == "COPY" else []
        self.current = current
        self.started = time.perf_counter()

    def after_statement(self, conn, cursor, statement, parameters, context, many):
        """Record what the statement did."""
        current = self.current
        if current is None:
            return
        current.ms = (time.perf_counter() - self.started) * 1000
        self.current = None
        if self.dialect == "postgresql":
            raw = conn.connection.dbapi_connection
            held = held_locks(raw)
            if self.watcher is not None:
                held |= self.watcher.stop()
                self.watcher = None
            for lock in held - self.before["locks"]:
                self.taken_on.setdefault(lock, len(self.statements))
            current.locks = [
                Lock(
                    relation=self.existing[oid][0],
                    mode=mode,
                    blocks=POSTGRESQL_BLOCKS[mode],
                    index=self.existing[oid][1],
                    since_statement=self.taken_on.get((oid, mode))
                    if (oid, mode) in self.before["locks"]
                    else None,
                )
                for oid, mode in strongest(held)
                if oid in self.existing
            ]
            files = relation_files(raw)
            current.rewrites = sorted(
                self.existing[oid][0]
                for oid, number in self.before["files"].items()
                if oid in self.existing and files.get(oid, number) != number
            )
        self.statements.append(current)

    def failed_statement(self, context) -> None:
        """Record a statement that failed, with the first line of its error."""
        current = self.current
        if current is None:
            return
        current.ms = (time.perf_counter() - self.started) * 1000
        current.ok = False
        if self.watcher is not None:
            self.watcher.stop()
            self.watcher = None
        lines = str(context.original_exception).strip().splitlines()
        current.error = lines[0] if lines else type(context.original_exception).__name__
        self.current = None
        self.statements.append(current)


class LockWatcher:
    """PostgreSQL: the locks a backend holds while a statement runs outside a
    transaction (``CREATE INDEX CONCURRENTLY`` in an ``autocommit_block``), whose
    locks are gone when it returns: read from a second connection until stopped."""

    def __init__(self, engine: sa.Engine, pid: int) -> None:
        """Start watching the backend ``pid``."""
        self.seen: set[tuple[int, str]] = set()
        self.done = threading.Event()
        arguments, keywords = engine.dialect.create_connect_args(engine.url)
        self.connection = engine.dialect.loaded_dbapi.connect(*arguments, **keywords)
        self.connection.autocommit = True
        self.pid = pid
        self.thread = threading.Thread(target=self.watch, daemon=True)
        self.thread.start()

    def watch(self) -> None:
        """Read the backend's locks every millisecond."""
        sql = (
            "SELECT relation::int, mode FROM pg_locks WHERE pid = %s "
            "AND locktype = 'relation' AND granted"
        )
        cursor = self.connection.cursor()
        while not self.done.is_set():
            cursor.execute(sql, (self.pid,))
            self.seen |= set(cursor.fetchall())
            time.sleep(0.001)
        cursor.close()

    def stop(self) -> set[tuple[int, str]]:
        """Stop watching; the locks seen."""
        self.done.set()
        self.thread.join()
        self.connection.close()
        return self.seen


def strongest(held: set) -> list[tuple[int, str]]:
    """For each relation locked, the strongest mode held on it (the statement runs
    under every lock the transaction holds, also those earlier statements took)."""
    order = list(POSTGRESQL_BLOCKS)
    modes: dict[int, str] = {}
    for oid, mode in held:
        if mode in order and order.index(mode) >= order.index(modes.get(oid, mode)):
            modes[oid] = mode
    return sorted(modes.items())


def query(raw, sql: str) -> list[tuple]:
    """Rows of a catalog query on the migration's own connection, outside
    SQLAlchemy (so that no event fires), in its transaction."""
    cursor = raw.cursor()
    try:
        cursor.execute(sql)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def relations(raw) -> dict[int, tuple[str, bool]]:
    """PostgreSQL: the tables and indexes of the current schema, oid -> (name,
    whether it is an index)."""
    rows = query(
        raw,
        "SELECT c.oid, c.relname, c.relkind IN ('i', 'I') FROM pg_class c "
        "WHERE c.relnamespace = current_schema()::regnamespace "
        "AND c.relkind IN ('r', 'i', 'p', 'I') AND c.relname <> 'alembic_version'",
    )
    return {oid: (name, is_index) for oid, name, is_index in rows}


def relation_files(raw) -> dict[int, int]:
    """PostgreSQL: each relation's file number, which a rewrite changes."""
    return dict(
        query(
            raw,
            "SELECT c.oid, c.relfilenode FROM pg_class c "
            "WHERE c.relnamespace = current_schema()::regnamespace",
        )
    )


def held_locks(raw) -> set[tuple[int, str]]:
    """PostgreSQL: the relation locks this backend holds, ``(oid, mode)``."""
    return set(
        query(
            raw,
            "SELECT relation::int, mode FROM pg_locks WHERE pid = pg_backend_pid() "
            "AND locktype = 'relation' AND granted",
        )
    )


def mysql_table(statement: str) -> str | None:
    """The table an ALTER TABLE, CREATE INDEX or DROP INDEX statement is about."""
    match = ALTER_TABLE.match(statement)
    if match:
        return match.group(1)
    match = INDEX_STATEMENT.match(statement)
    return match.group(2) if match else None


def probe_algorithm(raw, statement: str) -> str | None:
    """MariaDB/MySQL: the algorithm the server runs the statement with, asked on an
    empty copy of its table; None for other statements or where the copy cannot
    take it (a foreign key the copy lacks, a rename). Table names are the
    revision's own, read from its statement (word characters: nothing to escape)."""
    table = mysql_table(statement)
    if table is None or re.search(r"\bRENAME\b", statement, re.I):
        return None
    match = ALTER_TABLE.match(statement)
    if match:
        on_copy = f"ALTER TABLE `{PROBE_TABLE}` {match.group(2)}"
        variants = [f"{on_copy}, {clause}" for _, clause, _ in ALGORITHMS]
    else:
        match = INDEX_STATEMENT.match(statement)
        on_copy = f"{match.group(1)} `{PROBE_TABLE}`{match.group(3)}"
        variants = [
            f"{on_copy} {clause.replace(',', '')}" for _, clause, _ in ALGORITHMS
        ]
    try:
        query(raw, f"CREATE TABLE `{PROBE_TABLE}` LIKE `{table}`")
        for (name, _, lock), variant in zip(ALGORITHMS, variants, strict=True):
            if runs(raw, variant):
                return f"{name}, LOCK={lock}"
            query(raw, f"DROP TABLE IF EXISTS `{PROBE_TABLE}`")
            query(raw, f"CREATE TABLE `{PROBE_TABLE}` LIKE `{table}`")
        return "COPY, LOCK=SHARED" if runs(raw, on_copy) else None
    finally:
        query(raw, f"DROP TABLE IF EXISTS `{PROBE_TABLE}`")


def runs(raw, statement: str) -> bool:
    """Whether the server runs the statement (it is run)."""
    try:
        query(raw, statement)
    except Exception:  # noqa: BLE001 - the server's refusal is the answer
        return False
    return True
