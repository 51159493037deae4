"""MariaDB/MySQL commit every DDL statement as it runs: a revision that fails after
one cannot roll it back. These are the DDL statements of the revision under way, so
that the error can name them for the operator to undo (docs/production.md), and
what tells a rerun whether one ran: the tables it names, and a digest of their
schema (``journal.py``).
"""

import hashlib
import re
from contextlib import contextmanager

import sqlalchemy as sa

DDL_VERBS = frozenset({"CREATE", "ALTER", "DROP", "RENAME", "TRUNCATE"})
LONGEST = 80  # characters of a statement shown; a longer one ends with "…"
# A password in a statement (CREATE USER ... IDENTIFIED BY '...'): never shown.
SECRET = re.compile(r"(IDENTIFIED BY|PASSWORD)\s*'(?:[^']|'')*'", re.IGNORECASE)


def shown(statement: str) -> str:
    """A statement as an error shows it: on one line, no password, cut short."""
    text = SECRET.sub(r"\1 '…'", " ".join(statement.split()))
    if len(text) > LONGEST:
        text = text[: LONGEST - 1].rsplit(" ", 1)[0] + " …"
    return text


class KeptDdl:
    """The DDL statements the revision under way has run, and so committed."""

    def __init__(self, version_table: str) -> None:
        """Watch for DDL statements, leaving out those on ``version_table``."""
        self.version_table = version_table
        self.statements: list[str] = []

    def note(self, connection, cursor, statement: str, *args) -> None:
        """An ``after_cursor_execute`` listener: remember a DDL statement."""
        words = statement.split()
        verb = words[0].upper() if words else ""
        if verb in DDL_VERBS and self.version_table not in statement:
            self.statements.append(shown(statement))

    def next_revision(self, **kwargs) -> None:
        """An ``on_version_apply`` hook: the revision committed, start afresh."""
        self.statements.clear()

    @contextmanager
    def watching(self, connection: sa.Connection):
        """Note the DDL statements run on ``connection`` inside the block."""
        self.statements.clear()
        sa.event.listen(connection, "after_cursor_execute", self.note)
        try:
            yield self
        finally:
            sa.event.remove(connection, "after_cursor_execute", self.note)

    def __bool__(self) -> bool:
        """True when the revision under way has committed DDL."""
        return bool(self.statements)

    def __str__(self) -> str:
        """The statements, for the error message."""
        return "; ".join(self.statements)


# The schema of the tables a DDL statement names, as information_schema describes
# them, with the names of all the tables (a table created, dropped or renamed): a
# statement that changed it has run. Reading only the tables named keeps the cost
# of a statement's digest small whatever the size of the schema.
TABLE_NAMES = (
    "SELECT table_name FROM information_schema.tables"
    " WHERE table_schema = DATABASE() AND table_name <> %(journal)s"
    " ORDER BY table_name"
)
TABLE_DETAILS = (
    "SELECT 'c', table_name, column_name, column_type, is_nullable, column_default,"
    " CONCAT(extra, '|', column_comment) FROM information_schema.columns"
    " WHERE table_schema = DATABASE() AND table_name IN ({names})"
    " UNION ALL SELECT 'i', table_name, index_name, seq_in_index, column_name,"
    " non_unique, NULL FROM information_schema.statistics"
    " WHERE table_schema = DATABASE() AND table_name IN ({names})"
    " UNION ALL SELECT 'k', table_name, constraint_name, constraint_type, NULL, NULL,"
    " NULL FROM information_schema.table_constraints"
    " WHERE constraint_schema = DATABASE() AND table_name IN ({names})"
    " UNION ALL SELECT 't', table_name, table_comment, NULL, NULL, NULL, NULL"
    " FROM information_schema.tables"
    " WHERE table_schema = DATABASE() AND table_name IN ({names})"
    " ORDER BY 1, 2, 3, 4"
)


def tables_named(cursor, journal: str, statement: str) -> str:
    """The tables of the database that ``statement`` names, one per line."""
    reader = cursor.connection.cursor()
    reader.execute(TABLE_NAMES, {"journal": journal})
    names = [name for (name,) in reader.fetchall()]
    named = [name for name in names if re.search(rf"\b{re.escape(name)}\b", statement)]
    return "\n".join(named)


def schema_of(cursor, journal: str, tables: str) -> str:
    """A digest of the list of the database's tables and of the schema of
    ``tables`` (one per line), read on ``cursor``'s connection."""
    reader = cursor.connection.cursor()
    reader.execute(TABLE_NAMES, {"journal": journal})
    digest = hashlib.sha256(repr(reader.fetchall()).encode())
    named = tables.split("\n") if tables else []
    if named:
        placeholders = ", ".join(f"%(t{index})s" for index in range(len(named)))
        reader.execute(
            TABLE_DETAILS.format(names=placeholders),
            {f"t{index}": name for index, name in enumerate(named)},
        )
        digest.update(repr(reader.fetchall()).encode())
    return digest.hexdigest()
