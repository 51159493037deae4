"""An autogenerate plugin (Alembic's Plugin API): indexes on expressions, such as
``sa.Index("ix_gadgets_lower_name", sa.func.lower(sa.column("name")))``, on SQLite.

SQLAlchemy cannot reflect such indexes from SQLite, so Alembic leaves them out when
it autogenerates there, with a warning, even for a table it creates: a revision
generated on SQLite would never create the index anywhere. SQLite does list index
names, so here an expression index whose name the database does not have is added
to the revision. A changed expression under the same name, or an expression index
removed from the models, is not detected on SQLite (docs/autogenerate.md).
"""

import warnings

import sqlalchemy as sa
from alembic.operations import ops
from alembic.util import DispatchPriority, PriorityDispatchResult

NAME = "flask_alembic_kit.expression_indexes"

# Alembic's warning that it skips these indexes on SQLite, and SQLAlchemy's that it
# does not reflect them: this plugin compares them.
warnings.filterwarnings(
    "ignore",
    message="autogenerate skipping metadata-specified expression-based index",
    category=UserWarning,
)
warnings.filterwarnings(
    "ignore",
    message="Skipped unsupported reflection of expression-based index",
    category=sa.exc.SAWarning,
)


def is_expression_index(index: sa.Index) -> bool:
    """Whether an index is on an expression rather than on columns only."""
    return any(not isinstance(item, sa.Column) for item in index.expressions)


def index_names(connection: sa.Connection, table: str) -> set[str]:
    """The names of a SQLite table's indexes, expression indexes included."""
    rows = connection.execute(
        sa.text(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = :t"
        ),
        {"t": table},
    )
    return {name for (name,) in rows}


def add_missing_expression_indexes(
    autogen_context, modify_ops, schema, table_name, conn_table, metadata_table
):
    """A ``table``/``indexes`` comparator: create the models' expression indexes
    that the database does not have by name."""
    if metadata_table is None:
        return PriorityDispatchResult.CONTINUE
    wanted = sorted(
        (index for index in metadata_table.indexes if is_expression_index(index)),
        key=lambda index: index.name,
    )
    if not wanted:
        return PriorityDispatchResult.CONTINUE
    planned = {
        operation.index_name
        for operation in modify_ops.ops
        if isinstance(operation, ops.CreateIndexOp)
    }
    existing = set()
    if conn_table is not None:
        existing = index_names(autogen_context.connection, table_name)
    for index in wanted:
        if index.name not in planned | existing:
            modify_ops.ops.append(ops.CreateIndexOp.from_index(index))
    return PriorityDispatchResult.CONTINUE


def setup(plugin) -> None:
    """Register the comparator, for SQLite, after Alembic's own index comparison."""
    plugin.add_autogenerate_comparator(
        add_missing_expression_indexes,
        "table",
        "indexes",
        qualifier="sqlite",
        priority=DispatchPriority.LAST,
    )
