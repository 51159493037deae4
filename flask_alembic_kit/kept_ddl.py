"""MariaDB/MySQL commit every DDL statement as it runs: a revision that fails after
one cannot roll it back. These are the DDL statements of the revision under way, so
that the error can name them for the operator to undo (README, "Running migrations
in production", promise 2).
"""

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
