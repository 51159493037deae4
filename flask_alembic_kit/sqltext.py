"""SQL written as text by the ops of this package, where SQLAlchemy has no
construct for it (``ALTER TYPE ... RENAME VALUE``, ``DO`` blocks)."""

import sqlalchemy as sa


def literal(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def execute(operations, sql: str) -> None:
    """Run SQL text as written: a colon in a value or a name is not a bound
    parameter (``sa.text`` would take ``:name`` for one)."""
    operations.execute(sa.text(sql.replace(":", r"\:")))
