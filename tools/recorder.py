"""What each statement of a revision does, measured on the database as it runs.

A ``Recorder`` listens to the engine the migration runs on (SQLAlchemy's
``before_cursor_execute`` / ``after_cursor_execute`` / ``handle_error`` events) and
keeps the statements the revision file wrote (its file is on the stack, as in
``render.py``), not env.py's own (run lock, timeouts, version table) nor the
catalog reads of the ops. For each: its time and whether it succeeded, and
(``probes.py`` asks the databases)

- PostgreSQL, as eugene traces it: the locks the migrating backend holds on
  relations that existed before the revision once the statement ran
  (``pg_locks``), the strongest per relation, and which earlier statement of the
  same transaction took it; a statement outside a transaction is watched while it
  runs. And the tables and indexes whose file changed (``relfilenode``): a rewrite.
- MariaDB/MySQL: the ALTER algorithm and lock the server needs for it, asked of the
  server on an empty copy of the table. A COPY is a rewrite.
"""

import inspect
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from flask_alembic_kit.serving import kit_tables
from tools.probes import (
    POSTGRESQL_BLOCKS,
    LockWatcher,
    held_locks,
    mysql_table,
    probe_algorithm,
    query,
    relation_files,
    relations,
    strongest,
)
from tools.render import line_on_stack

# Statements that only read, or read the catalog (the ops' own inspection): not
# the revision's work. A WITH ... UPDATE, or a SELECT of a function, is.
SHOW_OR_PRAGMA = re.compile(r"^\s*(SHOW|PRAGMA|DESCRIBE|EXPLAIN)\b", re.IGNORECASE)
CATALOG = re.compile(
    r"\b(pg_catalog|information_schema|pg_class|pg_type|pg_enum|pg_depend|"
    r"pg_attribute|pg_namespace|pg_index|pg_constraint|sqlite_master|"
    r"sqlite_schema|sqlite_temp_master)\b",
    re.IGNORECASE,
)


def is_inspection(statement: str) -> bool:
    """Whether a statement only inspects the database."""
    return bool(SHOW_OR_PRAGMA.match(statement)) or (
        statement.lstrip()[:6].upper() in ("SELECT", "WITH")
        and bool(CATALOG.search(statement))
        and not re.search(r"\b(INSERT|UPDATE|DELETE)\b", statement, re.IGNORECASE)
    )


@dataclass
class Lock:
    """A table lock a statement ran under, and what it blocks."""

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
    transaction: int = 0  # statements of one transaction share it; None: its own
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

    def __init__(
        self, engine: sa.Engine, version_table: str = "alembic_version"
    ) -> None:
        """Listen to the engine's statements; ``version_table``: the history's, which
        is env.py's business, not the revision's."""
        self.engine = engine
        self.version_table = version_table
        self.dialect = engine.dialect.name
        self.revision_path: str | None = None
        self.statements: list[StatementTrace] = []
        self.existing: dict[int, tuple] | None = None  # PostgreSQL: the relations
        self.tables: set[str] | None = None  # MariaDB/MySQL: the tables before
        self.current: StatementTrace | None = None
        self.before: dict = {}
        self.started = 0.0
        self.transaction = 0
        self.watcher: LockWatcher | None = None
        self.taken_on: dict[tuple[int, str], int] = {}  # lock -> statement index
        sa.event.listen(engine, "before_cursor_execute", self.before_statement)
        sa.event.listen(engine, "after_cursor_execute", self.after_statement)
        sa.event.listen(engine, "handle_error", self.failed_statement)

    def start(self, revision_path: Path) -> None:
        """Record the statements of this revision file from now on."""
        self.revision_path = str(revision_path.resolve())
        self.statements = []
        self.existing = None
        self.tables = None
        self.taken_on = {}

    def stop(self) -> list[StatementTrace]:
        """Stop recording; the statements recorded."""
        self.revision_path = None
        return self.statements

    def before_statement(self, conn, cursor, statement, parameters, context, many):
        """Note the state the statement starts from."""
        self.current = None
        if self.revision_path is None or is_inspection(statement):
            return
        line = line_on_stack(self.revision_path, inspect.currentframe().f_back)
        if line is None:
            return
        raw = conn.connection.dbapi_connection
        current = StatementTrace(statement, line)
        if self.dialect == "postgresql":
            self.before_on_postgresql(raw, current)
        elif self.dialect in ("mysql", "mariadb"):
            self.before_on_mysql(raw, current)
        self.current = current
        self.started = time.perf_counter()

    def before_on_postgresql(self, raw, current: StatementTrace) -> None:
        """The relations, files and locks before the statement; a watcher for a
        statement outside a transaction."""
        if self.existing is None:  # the revision's first statement
            self.existing = {
                oid: relation
                for oid, relation in relations(raw).items()
                if relation[0] not in kit_tables(self.version_table)
            }
        self.before = {"files": relation_files(raw), "locks": held_locks(raw)}
        # Locks no longer held were released by a commit: a new transaction.
        self.taken_on = {
            lock: index
            for lock, index in self.taken_on.items()
            if lock in self.before["locks"]
        }
        if raw.info.transaction_status.name == "IDLE":
            self.transaction += 1  # the statement begins a transaction, or has none
        if raw.autocommit:  # its locks end with it: watch it run
            current.in_transaction = False
            self.watcher = LockWatcher(self.engine, raw.info.backend_pid)
        current.transaction = self.transaction

    def before_on_mysql(self, raw, current: StatementTrace) -> None:
        """The algorithm the server needs for an ALTER of a table that existed."""
        current.in_transaction = False  # each DDL statement commits
        self.transaction += 1
        current.transaction = self.transaction
        if self.tables is None:  # the revision's first statement
            tables = {name for (name,) in query(raw, "SHOW TABLES")}
            self.tables = tables - kit_tables(self.version_table)
        table = mysql_table(current.sql)
        if table not in self.tables:
            return  # a table the revision made has nothing to copy
        probed = probe_algorithm(raw, current.sql)
        if probed is not None:
            current.algorithm, lock = probed
            blocks = "nothing" if lock == "LOCK=NONE" else "writes"
            current.locks = [Lock(table, lock, blocks)]
            current.rewrites = [table] if current.algorithm == "COPY" else []

    def after_statement(self, conn, cursor, statement, parameters, context, many):
        """Record what the statement did."""
        current = self.current
        if current is None:
            return
        current.ms = (time.perf_counter() - self.started) * 1000
        self.current = None
        if self.dialect == "postgresql":
            self.after_on_postgresql(conn.connection.dbapi_connection, current)
        self.statements.append(current)

    def after_on_postgresql(self, raw, current: StatementTrace) -> None:
        """The locks held on relations that existed, and the files that changed."""
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

    def failed_statement(self, context) -> None:
        """Record a statement that failed, with the first line of its error: it
        rewrote nothing, whatever the server would have needed."""
        current = self.current
        if current is None:
            return
        current.ms = (time.perf_counter() - self.started) * 1000
        current.ok = False
        current.rewrites = []
        if self.watcher is not None:
            self.watcher.stop()
            self.watcher = None
        lines = str(context.original_exception).strip().splitlines()
        current.error = lines[0] if lines else type(context.original_exception).__name__
        self.current = None
        self.statements.append(current)
