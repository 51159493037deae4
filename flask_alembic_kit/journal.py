"""Resuming a revision that MariaDB/MySQL committed part of (docs/production.md).

MariaDB commits every DDL statement as it runs, and the data changes before it: a
revision cut short (a failed statement, ``kill -9``, a lost connection) leaves its
first statements in the database while the version table still names the revision
before it. Run again from the start, it would fail on its own first ``CREATE TABLE``.

So each write statement of a revision is written down in a journal table
(``<version_table>_journal``), durably at the moment MariaDB commits it:

- a data statement's row in the statement's own transaction: both are committed,
  or rolled back, together;
- a DDL statement's row just before it, with the tables it names and a digest of
  their schema: MariaDB commits the open transaction, the row included, before it
  runs any DDL; the row is marked done after it. On a rerun, for the one row left
  unmarked (a statement that failed, or was cut as it ran), the same digest means
  the statement never ran (DDL is atomic on MariaDB 10.6+), and the rerun runs the
  statement at that place, fixed or not; a different one, that it did.

The rerun of the revision skips the statements the journal says ran (each must be
the same statement as before, or the rerun stops in one line) and runs the rest.
The revision's rows go with its version bump, in the same commit; the table itself
is dropped by a run that leaves it empty, so a database at head has none.

Not journaled: statements run in autocommit mode (``fill_column``'s batches, which a
rerun continues by itself) and reads. A skipped data statement reports no rows: a
revision that decides by a row count on MariaDB should do so in ``fill_column``'s
way, on what is in the table.
"""

import hashlib
import logging
import re

import sqlalchemy as sa

from flask_alembic_kit.errors import MigrationFailed
from flask_alembic_kit.kept_ddl import DDL_VERBS, schema_of, shown, tables_named

log = logging.getLogger("alembic.env")

DATA_VERBS = frozenset({"INSERT", "UPDATE", "DELETE", "REPLACE"})
# What a skipped statement becomes: MariaDB's statement that does nothing.
NOTHING = "DO 0"
FIRST_WORD = re.compile(r"\s*(?:/\*.*?\*/\s*)*\(?\s*(\w+)", re.DOTALL)


def verb_of(statement: str) -> str:
    """A statement's first keyword, upper case (``CREATE``, ``UPDATE``, ...)."""
    match = FIRST_WORD.match(statement)
    return match[1].upper() if match else ""


def digest_of(statement: str, parameters) -> str:
    """What identifies a statement across runs: its text and its parameters."""
    return hashlib.sha256(f"{statement}\0{parameters!r}".encode()).hexdigest()


class Journal:
    """The write statements of the revision under way, on one MariaDB/MySQL
    connection: written down as they commit, skipped when a rerun repeats them."""

    def __init__(self, version_table: str) -> None:
        """A journal beside ``version_table``, whose revisions it follows."""
        self.version_table = version_table
        self.table = f"{version_table}_journal"
        self.exists = False
        self.step = "base"  # the revision the one under way starts from
        self.position = 0  # of the next write statement of that revision
        self.ran: list[tuple[str, str]] = []  # (digest, statement) of a cut run
        self.in_flight: tuple | None = None  # the statement sent, not yet answered

    # --- The run: open the journal, follow each revision, drop it when empty. ---

    def open(self, connection: sa.Connection, heads: str | None) -> None:
        """Start following ``connection`` from the revision it is at, ``heads``."""
        found = connection.exec_driver_sql(
            "SELECT count(*) FROM information_schema.tables"
            " WHERE table_schema = DATABASE() AND table_name = %(table)s",
            {"table": self.table},
        )
        self.exists = bool(found.scalar())
        connection.rollback()
        self.begin(connection.connection.dbapi_connection, heads or "base")

    def begin(self, dbapi_connection, heads: str) -> None:
        """A revision starts from ``heads``: read what a cut run of it did."""
        self.step, self.position, self.ran = heads, 0, []
        if not self.exists:
            return
        cursor = dbapi_connection.cursor()
        cursor.execute(
            "SELECT kind, digest, tables, schema_before, done, statement"
            f" FROM {self.table} WHERE step = %(step)s ORDER BY position",
            {"step": heads},
        )
        rows = cursor.fetchall()
        for index, (kind, digest, tables, schema_before, done, statement) in enumerate(
            rows
        ):
            # A data row is there only once committed; a DDL row is written before
            # its statement and marked done after it, in the next commit: the last
            # row, unmarked, ran if the schema of its tables is no longer the same.
            last = index == len(rows) - 1
            ran = (
                kind == "dml"
                or done
                or (last and schema_of(cursor, self.table, tables) != schema_before)
            )
            if not ran:
                break
            self.ran.append((digest, statement))

    def revision_done(self, ctx, step, heads, **kwargs) -> None:
        """An ``on_version_apply`` hook: the revision's rows go with its version bump,
        in the same commit; the next revision starts."""
        dbapi_connection = ctx.connection.connection.dbapi_connection
        if self.exists:
            cursor = dbapi_connection.cursor()
            cursor.execute(
                f"DELETE FROM {self.table} WHERE step = %(step)s", {"step": self.step}
            )
        self.begin(dbapi_connection, ", ".join(sorted(heads)) or "base")

    def close(self, connection: sa.Connection) -> None:
        """After a run that succeeded: drop the journal when no row is left."""
        if not self.exists:
            return
        left = connection.exec_driver_sql(f"SELECT count(*) FROM {self.table}")
        if not left.scalar():
            connection.exec_driver_sql(f"DROP TABLE {self.table}")
            self.exists = False
        connection.commit()

    # --- Each statement: skip it, or write it down. ---

    def before(self, conn, cursor, statement, parameters, context, executemany):
        """A ``before_cursor_execute`` listener (``retval=True``)."""
        if self.in_flight is not None:
            # The last statement failed, and the revision runs again (a lock
            # retry): start it over from what the database says ran.
            self.in_flight = None
            self.begin(cursor.connection, self.step)
        kind = self.kind_of(statement, context)
        if kind is None:
            return statement, parameters
        position = self.position
        self.position += 1
        digest = digest_of(statement, parameters)
        if position < len(self.ran):
            if self.ran[position][0] != digest:
                raise self.changed_since_cut(position)
            if position == 0:
                log.warning(
                    "Resuming the revision after %s that was cut short: statements "
                    "that ran already are skipped (%s)",
                    self.step,
                    len(self.ran),
                )
            return NOTHING, [()] if executemany else ()
        self.ensure_table(cursor)
        self.in_flight = (position, kind, digest, statement)
        if kind == "ddl":  # committed, with what came before, as the DDL starts
            tables = tables_named(cursor, self.table, statement)
            schema_before = schema_of(cursor, self.table, tables)
            self.write(cursor, position, kind, digest, statement, tables, schema_before)
        return statement, parameters

    def changed_since_cut(self, position: int) -> MigrationFailed:
        """The error for a rerun that is not the run that was cut short: another
        command, or a revision changed in a statement that ran."""
        statements = "; ".join(statement for _, statement in self.ran)
        return MigrationFailed(
            f"a run from {self.step} was cut short on MariaDB/MySQL after "
            f"{len(self.ran)} statements, and this one differs from it at its "
            f"statement {position + 1}. If the cut run was another command (an "
            "upgrade cut short, then a downgrade), finish it with that command "
            "first; if the revision was changed in a statement that ran, undo by "
            f"hand what ran ({statements}), delete its rows (DELETE FROM "
            f"{self.table} WHERE step = '{self.step}'), then run it again"
        )

    def after(self, conn, cursor, statement, parameters, context, executemany):
        """An ``after_cursor_execute`` listener: a data statement's row, in its own
        transaction; a DDL statement's row marked done."""
        if self.in_flight is None:
            return
        (position, kind, digest, statement), self.in_flight = self.in_flight, None
        if kind == "dml":
            self.write(cursor, position, kind, digest, statement, None, None)
        else:
            cursor.connection.cursor().execute(
                f"UPDATE {self.table} SET done = 1"
                " WHERE step = %(step)s AND position = %(position)s",
                {"step": self.step, "position": position},
            )

    def kind_of(self, statement: str, context) -> str | None:
        """``ddl`` or ``dml`` for a revision's write statement; ``None`` for what the
        journal leaves alone."""
        options = context.execution_options if context is not None else {}
        if options.get("isolation_level") == "AUTOCOMMIT":
            return None
        if self.table in statement or self.version_table in statement:
            return None
        verb = verb_of(statement)
        if verb in DDL_VERBS:
            return "ddl"
        return "dml" if verb in DATA_VERBS else None

    def ensure_table(self, cursor) -> None:
        """Create the journal on the first write of a run (before it, the revision
        has only read: the commit this DDL makes ends nothing of its)."""
        if self.exists:
            return
        cursor.connection.cursor().execute(
            f"CREATE TABLE IF NOT EXISTS {self.table} ("
            " step VARCHAR(255) NOT NULL, position INTEGER NOT NULL,"
            " kind VARCHAR(3) NOT NULL, digest CHAR(64) NOT NULL,"
            " tables TEXT, schema_before CHAR(64), done BOOLEAN NOT NULL DEFAULT 0,"
            " statement VARCHAR(255) NOT NULL,"
            " PRIMARY KEY (step, position))"
        )
        self.exists = True

    def write(
        self, cursor, position, kind, digest, statement, tables, schema_before
    ) -> None:
        """Write one statement's row, in the transaction under way (over the row of
        an attempt that failed at the same place)."""
        cursor.connection.cursor().execute(
            f"REPLACE INTO {self.table}"
            " (step, position, kind, digest, tables, schema_before, statement)"
            " VALUES (%(step)s, %(position)s, %(kind)s, %(digest)s, %(tables)s,"
            " %(schema)s, %(statement)s)",
            {
                "tables": tables,
                "step": self.step,
                "position": position,
                "kind": kind,
                "digest": digest,
                "schema": schema_before,
                "statement": shown(statement)[:255],
            },
        )

    def attach(self, connection: sa.Connection) -> None:
        """Listen to ``connection``'s statements."""
        sa.event.listen(connection, "before_cursor_execute", self.before, retval=True)
        sa.event.listen(connection, "after_cursor_execute", self.after)

    def detach(self, connection: sa.Connection) -> None:
        """Stop listening."""
        sa.event.remove(connection, "before_cursor_execute", self.before)
        sa.event.remove(connection, "after_cursor_execute", self.after)
