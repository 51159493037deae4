"""A NOT NULL column without a default, added to a table that has rows: refused on
MariaDB/MySQL as SQLite and PostgreSQL refuse it.

MariaDB accepts ``ALTER TABLE ... ADD COLUMN c ... NOT NULL`` on a populated table
and fills every row with ``''`` or ``0``: a revision that fails on the other two
databases goes through there with exit 0, and a rename written as a drop and an add
loses the data silently. Alembic's ``add_column`` is wrapped (its Operations API,
``implementation_for``) so that on MariaDB/MySQL such a column fails with one line
that says what to do instead; a column with a default, a nullable one, or any column
on an empty table is added as before. Offline (``--sql``) nothing can be counted, and
nothing is checked.
"""

import sqlalchemy as sa
from alembic.operations import Operations, ops

from flask_alembic_kit.errors import MigrationFailed
from flask_alembic_kit.internals import alembic_add_column


def refused(operation: ops.AddColumnOp) -> MigrationFailed:
    """The error: as PostgreSQL would say it, and what to do."""
    return MigrationFailed(
        f"column {operation.column.name} of {operation.table_name} is NOT NULL "
        "without a default, and the table has rows: MariaDB would fill them with "
        "'' or 0. Add it nullable, fill it, then make it NOT NULL (README, "
        '"Everyday workflow"), or give it a server_default'
    )


@Operations.implementation_for(ops.AddColumnOp, replace=True)
def add_column(operations, operation: ops.AddColumnOp) -> None:
    """Alembic's ``add_column``, refusing what MariaDB would fill in silently."""
    column = operation.column
    context = operations.migration_context
    if (
        context.dialect.name in ("mysql", "mariadb")
        and not context.as_sql
        and not column.nullable
        and column.server_default is None
        and not column.primary_key
    ):
        table = sa.table(operation.table_name, schema=operation.schema)
        query = sa.select(sa.literal(1)).select_from(table).limit(1)
        if operations.get_bind().execute(query).first() is not None:
            raise refused(operation)
    alembic_add_column(operations, operation)
