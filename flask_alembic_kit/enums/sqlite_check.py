"""SQLite holds an Enum's values in a CHECK constraint, ``column IN ('a', 'b')``
(``sa.Enum(..., create_constraint=True)``, which revision files write): the table
rebuilt with the new CHECK when the values change, and the CHECK dropped before
its column, which batch mode's table copy would otherwise keep."""

import re

import sqlalchemy as sa
from alembic.operations import BatchOperations, Operations, ops
from sqlalchemy.sql.elements import conv

from flask_alembic_kit.internals import alembic_drop_column


def sqlite_values(operations, operation, values, kw) -> None:
    """``op.alter_enum_values`` on SQLite (``values.py``): the column is a
    VARCHAR, and its values a CHECK constraint (written by
    ``create_constraint=True``, rendering.py). The table is rebuilt with the
    CHECK of ``values`` in place of the one it has, if any: a row holding a value
    left out fails the rebuild, and the revision, as on the servers."""
    check = enum_check(operations, operation.table_name, operation.column_name)
    with operations.batch_alter_table(operation.table_name, recreate="always") as b:
        if check is not None:
            b.drop_constraint(b.f(check), type_="check")  # named already
        b.alter_column(
            operation.column_name,
            type_=sa.Enum(*values, name=operation.name, create_constraint=True),
            **kw,
        )


@Operations.implementation_for(ops.DropColumnOp, replace=True)
def drop_column(operations, operation: ops.DropColumnOp) -> None:
    """Alembic's ``drop_column``; in batch mode on SQLite, the CHECK that holds the
    column to its Enum values goes first: batch mode's table copy keeps a named
    CHECK, which would name a column the copy no longer has."""
    context = operations.migration_context
    if isinstance(operations, BatchOperations) and context.dialect.name == "sqlite":
        check = enum_check(operations, operation.table_name, operation.column_name)
        if check is not None:
            operations.impl.drop_constraint(sa.CheckConstraint("1", name=conv(check)))
    alembic_drop_column(operations, operation)


def enum_check(operations, table: str, column: str) -> str | None:
    """The name of the SQLite CHECK constraint that holds a column to its values
    (``column IN (...)``), if the table has one (``None`` in a ``--sql`` script,
    which cannot rebuild a table anyway)."""
    context = operations.migration_context
    if context.as_sql:
        return None
    for check in sa.inspect(context.connection).get_check_constraints(table):
        if check.get("name") and values_of_check(check["sqltext"], column) is not None:
            return check["name"]
    return None


def values_of_check(sqltext: str, column: str) -> list[str] | None:
    """The values of a CHECK constraint ``column IN ('a', 'b')`` (SQLAlchemy's
    for an Enum), or ``None`` for another CHECK."""
    found = ENUM_CHECK.fullmatch(sqltext.strip())
    if found is None or found["column"].strip('"`[]') != column:
        return None
    return [value.replace("''", "'") for value in ENUM_VALUE.findall(found["values"])]


# SQLAlchemy's CHECK for an Enum: ``status IN ('draft', 'live')``.
ENUM_CHECK = re.compile(
    r"\(?\s*(?P<column>\S+)\s+IN\s*\((?P<values>(?:\s*'(?:[^']|'')*'\s*,?)*)\)\s*\)?",
    re.IGNORECASE,
)
ENUM_VALUE = re.compile(r"'((?:[^']|'')*)'")
