"""PostgreSQL enum types, created and dropped with the columns that use them.

A PostgreSQL ``sa.Enum`` column needs a type of its own (``CREATE TYPE tag_status AS
ENUM (...)``); MariaDB and SQLite keep the values in the column. Alembic's
``create_table`` creates the type, but ``add_column`` does not, and ``drop_table``
and ``drop_column`` leave it behind, so the next upgrade fails with ``type
"tag_status" already exists``.

Two operations fill the gap, written into revision files by autogenerate (on any
database: the names come from the models) and readable there:
``op.create_enum_type("tag_status", ["draft", "live"])`` and
``op.drop_enum_type("tag_status")``. They act on PostgreSQL only and render nothing
elsewhere, so one file runs on all three databases.

Each type is created once and dropped with the last column that uses it, whatever
the file says, by the PostgreSQL implementation in ``types_once.py``. Importing this
module registers the ops (env.py does, through ``operations.py``).
"""

import sqlalchemy as sa
from alembic.autogenerate import renderers
from alembic.operations import MigrateOperation, Operations, ops
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql.named_types import CreateEnumType, DropEnumType

from flask_alembic_kit.enums.types_once import EnumTypesOnce, named_enums
from flask_alembic_kit.internals import copy_column


@Operations.register_operation("create_enum_type")
class CreateEnumTypeOp(MigrateOperation):
    """Create a PostgreSQL enum type (nothing on other databases)."""

    def __init__(self, name: str, values: list[str]) -> None:
        """The type's name and values, in order."""
        self.name = name
        self.values = list(values)

    @classmethod
    def create_enum_type(cls, operations, name: str, values: list[str]):
        """``op.create_enum_type(name, values)``."""
        return operations.invoke(cls(name, values))

    def reverse(self) -> "DropEnumTypeOp":
        """Dropping it again."""
        return DropEnumTypeOp(self.name, self.values)


@Operations.register_operation("drop_enum_type")
class DropEnumTypeOp(MigrateOperation):
    """Drop a PostgreSQL enum type (nothing on other databases)."""

    def __init__(self, name: str, values: list[str] | None = None) -> None:
        """The type's name; its values, to create it again in a downgrade."""
        self.name = name
        self.values = list(values or [])

    @classmethod
    def drop_enum_type(cls, operations, name: str):
        """``op.drop_enum_type(name)``."""
        return operations.invoke(cls(name))

    def reverse(self) -> CreateEnumTypeOp:
        """Creating it again."""
        return CreateEnumTypeOp(self.name, self.values)


@Operations.implementation_for(CreateEnumTypeOp)
def create_enum_type(operations, operation: CreateEnumTypeOp) -> None:
    """``CREATE TYPE ... AS ENUM`` on PostgreSQL, unless the type exists."""
    impl = operations.migration_context.impl
    if isinstance(impl, EnumTypesOnce):
        impl.create_enum_type(operation.name, operation.values)
    elif impl.dialect.name == "postgresql":  # another implementation took over
        enum = postgresql.ENUM(*operation.values, name=operation.name)
        operations.execute(CreateEnumType(enum))


@Operations.implementation_for(DropEnumTypeOp)
def drop_enum_type(operations, operation: DropEnumTypeOp) -> None:
    """``DROP TYPE`` on PostgreSQL, unless a column still uses the type."""
    impl = operations.migration_context.impl
    if isinstance(impl, EnumTypesOnce):
        impl.drop_enum_types([operation.name])
    elif impl.dialect.name == "postgresql":
        operations.execute(DropEnumType(postgresql.ENUM(name=operation.name)))


@renderers.dispatch_for(CreateEnumTypeOp)
def render_create(autogen_context, operation: CreateEnumTypeOp) -> str:
    """The op as a line of the revision file."""
    return f"op.create_enum_type({operation.name!r}, {operation.values!r})"


@renderers.dispatch_for(DropEnumTypeOp)
def render_drop(autogen_context, operation: DropEnumTypeOp) -> str:
    """The op as a line of the revision file."""
    return f"op.drop_enum_type({operation.name!r})"


def types_of(operation) -> tuple[dict, dict]:
    """The named enum types a table or column op adds and drops: name -> values."""
    if isinstance(operation, ops.DropTableOp):
        return {}, named_enums(operation.to_table().columns)
    if not isinstance(operation, ops.ModifyTableOps):
        return {}, {}
    added = [e.column for e in operation.ops if isinstance(e, ops.AddColumnOp)]
    dropped = [e.to_column() for e in operation.ops if isinstance(e, ops.DropColumnOp)]
    return named_enums(added), named_enums(dropped)


def with_types(operations: list, kept: set[str]) -> list:
    """A list of ops with the enum types its table and column ops need: created
    before the first column that adds one to an existing table, dropped after the
    last table or column that used one. ``create_table`` creates its own types;
    the types in ``kept`` are used by columns this revision leaves alone."""
    last_drop = {}
    for index, operation in enumerate(operations):
        for name, values in types_of(operation)[1].items():
            last_drop[name] = (index, values)
    # A type a created table brings stays: dropping it would take it from that table.
    kept = kept | {
        name
        for operation in operations
        if isinstance(operation, ops.CreateTableOp)
        for name in named_enums(operation.columns)
    }
    result, created = [], set()
    for index, operation in enumerate(operations):
        added, _ = types_of(operation)
        for name, values in added.items():
            if name not in kept | created:
                result.append(CreateEnumTypeOp(name, values))
                created.add(name)
        result.append(operation)
        for name, (last, values) in sorted(last_drop.items()):
            if last == index and name not in kept:
                result.append(DropEnumTypeOp(name, values))
    return result


def kept_types(script: ops.MigrationScript, metadata) -> set[str]:
    """The enum types used by model columns that the revision neither adds nor
    drops (nor their tables): they exist before and after it, in both directions."""
    tables, columns = set(), set()
    for container in script.upgrade_ops_list:
        for operation in container.ops:
            if isinstance(operation, (ops.CreateTableOp, ops.DropTableOp)):
                tables.add(operation.table_name)
            elif isinstance(operation, ops.ModifyTableOps):
                columns |= {
                    (operation.table_name, each.column_name)
                    for each in operation.ops
                    if isinstance(each, ops.DropColumnOp)
                }
                columns |= {
                    (operation.table_name, each.column.name)
                    for each in operation.ops
                    if isinstance(each, ops.AddColumnOp)
                }
    return set(
        named_enums(
            column
            for table in metadata.tables.values()
            if table.name not in tables
            for column in table.columns
            if (table.name, column.name) not in columns
        )
    )


def named(column, table_name: str):
    """The column, or a copy whose Enum has a name (``<table>_<column>``) if it had
    none: MariaDB reflects an ``ENUM(...)`` without one, and PostgreSQL needs one."""
    type_ = getattr(column, "type", None)
    if not isinstance(type_, sa.Enum) or type_.name or not type_.native_enum:
        return column
    copy = copy_column(column)
    copy.type = sa.Enum(*type_.enums, name=f"{table_name}_{column.name}")
    return copy


def with_enum_types(script: ops.MigrationScript, metadata) -> None:
    """Add the enum type ops to the upgrade and to the downgrade (whose
    ``drop_table`` ops carry the model's columns, as the reverse of a create). A
    column the downgrade creates again from MariaDB's reflection gets a type name."""
    for container in script.downgrade_ops_list:
        for operation in container.ops:
            if isinstance(operation, ops.CreateTableOp):
                table = operation.table_name
                operation.columns = [named(c, table) for c in operation.columns]
            elif isinstance(operation, ops.ModifyTableOps):
                for each in operation.ops:
                    if isinstance(each, ops.AddColumnOp):
                        each.column = named(each.column, operation.table_name)
    kept = kept_types(script, metadata)
    for container in (*script.upgrade_ops_list, *script.downgrade_ops_list):
        container.ops[:] = with_types(container.ops, kept)
