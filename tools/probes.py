"""What the trace asks the databases, on the migration's own connection (outside
SQLAlchemy, so that no event fires, and in its transaction).

- PostgreSQL: the relations of the schema, their files (a rewrite changes one), the
  locks a backend holds, and a watcher that reads them from a second connection
  while a statement runs outside a transaction (a snapshot held open meanwhile, so
  that ``CREATE INDEX CONCURRENTLY`` cannot end unseen).
- MariaDB/MySQL: the ALTER algorithm a statement needs, asked of the server on an
  empty copy of its table.
"""

import contextlib
import re
import threading
import time

import sqlalchemy as sa

# What a PostgreSQL table lock blocks, by mode, weakest first (the documentation's
# conflict table: reads are ACCESS SHARE, writes ROW EXCLUSIVE).
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

HELD_LOCKS = (
    "SELECT relation::int, mode FROM pg_locks WHERE pid = {pid} "
    "AND locktype = 'relation' AND granted"
)


def query(raw, sql: str) -> list[tuple]:
    """Rows of a statement run on a driver connection."""
    cursor = raw.cursor()
    try:
        cursor.execute(sql)
        return list(cursor.fetchall()) if cursor.description else []
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
    return set(query(raw, HELD_LOCKS.format(pid="pg_backend_pid()")))


def strongest(held: set) -> list[tuple[int, str]]:
    """For each relation locked, the strongest mode held on it (a statement runs
    under every lock its transaction holds, also those earlier statements took)."""
    order = list(POSTGRESQL_BLOCKS)
    modes: dict[int, str] = {}
    for oid, mode in held:
        if mode in order and order.index(mode) >= order.index(modes.get(oid, mode)):
            modes[oid] = mode
    return sorted(modes.items())


class LockWatcher:
    """PostgreSQL: the locks a backend holds while a statement runs outside a
    transaction (``CREATE INDEX CONCURRENTLY`` in an ``autocommit_block``), whose
    locks are gone when it returns: read from a second connection until stopped.

    A quick statement could end between two readings, all the more on a busy
    machine. So a third connection holds a snapshot open (a REPEATABLE READ
    transaction) until the first reading that sees a lock, or ``HOLD_AT_MOST``:
    ``CREATE INDEX CONCURRENTLY`` waits for older snapshots before it ends, under
    its lock, so the lock is seen. Statements that wait for no snapshot do not
    notice it."""

    HOLD_AT_MOST = 2.0  # seconds: a statement that takes no lock is held no longer

    def __init__(self, engine: sa.Engine, pid: int) -> None:
        """Start watching the backend ``pid``; return once the first reading is
        done, so that the statement runs under watch."""
        self.driver_error = engine.dialect.loaded_dbapi.Error
        self.connection = self.connect(engine, autocommit=True)
        try:
            self.holder = self.connect(engine, autocommit=False)
            query(self.holder, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            query(self.holder, "SELECT 1")  # the snapshot, held until released
        except Exception:
            self.connection.close()
            raise
        self.sql = HELD_LOCKS.format(pid=int(pid))
        self.seen: set[tuple[int, str]] = set()
        self.done = threading.Event()
        self.watching = threading.Event()
        self.thread = threading.Thread(target=self.watch, daemon=True)
        self.thread.start()
        self.watching.wait(timeout=5)

    @staticmethod
    def connect(engine: sa.Engine, autocommit: bool):
        """A driver connection of the trace's own to the engine's database."""
        arguments, keywords = engine.dialect.create_connect_args(engine.url)
        connection = engine.dialect.loaded_dbapi.connect(*arguments, **keywords)
        connection.autocommit = autocommit
        return connection

    def watch(self) -> None:
        """Read the backend's locks every millisecond; let the snapshot go once a
        lock is seen."""
        started = time.monotonic()
        try:
            while not self.done.is_set():
                self.seen |= set(query(self.connection, self.sql))
                self.watching.set()
                if self.seen or time.monotonic() - started > self.HOLD_AT_MOST:
                    self.release()
                time.sleep(0.001)
        except self.driver_error:
            pass  # the watching connection is gone: what it saw stands
        finally:
            # Nor may a reading that failed leave the statement waiting for the
            # snapshot until its own timeout.
            self.release()

    def release(self) -> None:
        """End the transaction that holds the snapshot, once."""
        if self.holder is not None:
            holder, self.holder = self.holder, None
            # A connection that is gone took its snapshot with it.
            with contextlib.suppress(self.driver_error):
                holder.rollback()
            holder.close()

    def stop(self) -> set[tuple[int, str]]:
        """Stop watching; the locks seen."""
        self.done.set()
        self.thread.join()
        self.release()
        self.connection.close()
        return self.seen


# The statements whose algorithm MariaDB/MySQL can be asked about, and their table.
ALTER_TABLE = re.compile(r"^\s*ALTER\s+TABLE\s+`?(\w+)`?\s+(.*)$", re.I | re.S)
INDEX_STATEMENT = re.compile(
    r"^\s*(CREATE\s+(?:UNIQUE\s+)?INDEX\s+\S+\s+ON|DROP\s+INDEX\s+\S+\s+ON)"
    r"\s+`?(\w+)`?(.*)$",
    re.I | re.S,
)
OWN_CLAUSE = re.compile(r"\b(ALGORITHM|LOCK)\s*=|\bRENAME\b", re.I)
PROBE_TABLE = "migration_trace_probe"
# Tried in order; the first the server accepts is the answer.
ALGORITHMS = (
    ("INSTANT", "LOCK=NONE", "ALGORITHM=INSTANT"),
    ("INPLACE", "LOCK=NONE", "ALGORITHM=INPLACE, LOCK=NONE"),
    ("INPLACE", "LOCK=SHARED", "ALGORITHM=INPLACE, LOCK=SHARED"),
    ("INPLACE", "LOCK=EXCLUSIVE", "ALGORITHM=INPLACE, LOCK=EXCLUSIVE"),
    ("COPY", "LOCK=SHARED", "ALGORITHM=COPY, LOCK=SHARED"),
    ("COPY", "LOCK=EXCLUSIVE", "ALGORITHM=COPY, LOCK=EXCLUSIVE"),
)


def mysql_table(statement: str) -> str | None:
    """The table an ALTER TABLE, CREATE INDEX or DROP INDEX statement is about."""
    match = ALTER_TABLE.match(statement)
    if match:
        return match.group(1)
    match = INDEX_STATEMENT.match(statement)
    return match.group(2) if match else None


def probe_algorithm(raw, statement: str) -> tuple[str, str] | None:
    """MariaDB/MySQL: ``(algorithm, lock)`` the server runs the statement with,
    asked on an empty copy of its table; None for other statements, for one that
    says its own ALGORITHM or LOCK (or renames), or where the copy cannot take it
    (a foreign key the copy lacks). Table names are the revision's own, read from
    its statement (word characters: nothing to escape)."""
    table = mysql_table(statement)
    if table is None or OWN_CLAUSE.search(statement):
        return None
    match = ALTER_TABLE.match(statement)
    if match:
        on_copy = f"ALTER TABLE `{PROBE_TABLE}` {match.group(2)}"
        variants = [f"{on_copy}, {clause}" for _, _, clause in ALGORITHMS]
    else:
        match = INDEX_STATEMENT.match(statement)
        on_copy = f"{match.group(1)} `{PROBE_TABLE}`{match.group(3)}"
        variants = [f"{on_copy} {c.replace(',', '')}" for _, _, c in ALGORITHMS]
    try:
        for (algorithm, lock, _), variant in zip(ALGORITHMS, variants, strict=True):
            query(raw, f"DROP TABLE IF EXISTS `{PROBE_TABLE}`")
            query(raw, f"CREATE TABLE `{PROBE_TABLE}` LIKE `{table}`")
            if runs(raw, variant):
                return algorithm, lock
        return None
    finally:
        query(raw, f"DROP TABLE IF EXISTS `{PROBE_TABLE}`")


def runs(raw, statement: str) -> bool:
    """Whether the server runs the statement (it is run)."""
    try:
        query(raw, statement)
    except Exception:  # noqa: BLE001 - the server's refusal is the answer
        return False
    return True
