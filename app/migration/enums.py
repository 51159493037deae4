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
elsewhere, so one file runs on all three databases. Importing this module registers
them (env.py does, through ``autogenerate.py``).
"""

import sqlalchemy as sa
from alembic.autogenerate import renderers
from alembic.operations import MigrateOperation, Operations, ops
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql.named_types import CreateEnumType, DropEnumType


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
    """``CREATE TYPE ... AS ENUM`` on PostgreSQL."""
    if operations.migration_context.dialect.name == "postgresql":
        enum = postgresql.ENUM(*operation.values, name=operation.name)
        operations.execute(CreateEnumType(enum))


@Operations.implementation_for(DropEnumTypeOp)
def drop_enum_type(operations, operation: DropEnumTypeOp) -> None:
    """``DROP TYPE`` on PostgreSQL."""
    if operations.migration_context.dialect.name == "postgresql":
        operations.execute(DropEnumType(postgresql.ENUM(name=operation.name)))


@renderers.dispatch_for(CreateEnumTypeOp)
def render_create(autogen_context, operation: CreateEnumTypeOp) -> str:
    """The op as a line of the revision file."""
    return f"op.create_enum_type({operation.name!r}, {operation.values!r})"


@renderers.dispatch_for(DropEnumTypeOp)
def render_drop(autogen_context, operation: DropEnumTypeOp) -> str:
    """The op as a line of the revision file."""
    return f"op.drop_enum_type({operation.name!r})"


def named_enums(columns) -> dict[str, list[str]]:
    """The named enum types among ``columns``: name -> values."""
    found = {}
    for column in columns:
        type_ = getattr(column, "type", None)
        if isinstance(type_, sa.Enum) and type_.name and type_.native_enum:
            found.setdefault(type_.name, list(type_.enums))
    return found


def with_types(operations: list) -> list:
    """A list of ops with the enum types its table and column ops need: created
    before a column that adds one to an existing table, dropped after a table or a
    column that used one. ``create_table`` creates its own types."""
    result = []
    for operation in operations:
        if isinstance(operation, ops.DropTableOp):
            dropped = named_enums(operation.to_table().columns)
            result += [operation, *(DropEnumTypeOp(n, v) for n, v in dropped.items())]
        elif isinstance(operation, ops.ModifyTableOps):
            added = named_enums(
                each.column
                for each in operation.ops
                if isinstance(each, ops.AddColumnOp)
            )
            dropped = named_enums(
                each.to_column()
                for each in operation.ops
                if isinstance(each, ops.DropColumnOp)
            )
            result += [CreateEnumTypeOp(n, v) for n, v in added.items()]
            result += [operation, *(DropEnumTypeOp(n, v) for n, v in dropped.items())]
        else:
            result.append(operation)
    return result


def with_enum_types(script: ops.MigrationScript) -> None:
    """Add the enum type ops to the upgrade and to the downgrade (whose
    ``drop_table`` ops carry the model's columns, as the reverse of a create)."""
    for container in (*script.upgrade_ops_list, *script.downgrade_ops_list):
        container.ops[:] = with_types(container.ops)
