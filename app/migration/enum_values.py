"""Enum values changed on a type that exists: ``op.alter_enum_values``.

Adding a value to an ``sa.Enum`` of the models is detected on PostgreSQL (an
autogenerate plugin reading ``pg_enum``, registered through Alembic's Plugin API)
and on MariaDB/MySQL (Alembic's own comparison, whose ``alter_column`` is rewritten
here), and written as one op that each database runs its own way, so the file
generated on one runs on the others. SQLite keeps no enum values, only a VARCHAR as
long as the longest: a value longer than those before is detected there, another is
not (README, "What autogenerate detects here").
"""

import logging

import sqlalchemy as sa
from alembic.autogenerate import renderers
from alembic.operations import MigrateOperation, Operations, ops
from alembic.util import DispatchPriority, PriorityDispatchResult
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql.named_types import CreateEnumType

from app.migration.rendering import render_item

log = logging.getLogger("alembic.env")

NAME = "app.migration.enum_values"  # the autogenerate plugin's name


@Operations.register_operation("alter_enum_values")
class AlterEnumValuesOp(MigrateOperation):
    """Change the values an Enum column accepts, on each database its own way.

    PostgreSQL: ``ALTER TYPE ... ADD VALUE IF NOT EXISTS`` for each new value, which
    rewrites no table (a bare ``ALTER COLUMN ... TYPE`` would, under an ACCESS
    EXCLUSIVE lock); a value dropped swaps the type, which does rewrite the table
    (``migration-review`` reports ``enum-value-dropped``). MariaDB/MySQL: the
    column's ``ENUM(...)`` is restated (``MODIFY``). SQLite: nothing (the column is
    a VARCHAR).
    """

    def __init__(self, table_name, column_name, values, *, existing, name, **kw):
        """The column, its new and former values, the type's name, and what MariaDB's
        ``MODIFY`` restates: ``existing_nullable``, ``existing_server_default``,
        ``existing_comment``."""
        self.table_name = table_name
        self.column_name = column_name
        self.values = None if values is None else list(values)
        self.existing = None if existing is None else list(existing)
        self.name = name
        self.kw = kw

    @classmethod
    def alter_enum_values(cls, operations, table_name, column_name, values, **kw):
        """``op.alter_enum_values(table, column, values, existing=..., name=...)``."""
        return operations.invoke(cls(table_name, column_name, values, **kw))

    def reverse(self) -> "AlterEnumValuesOp":
        """The former values back."""
        return AlterEnumValuesOp(
            self.table_name,
            self.column_name,
            self.existing,
            existing=self.values,
            name=self.name,
            **self.kw,
        )


@Operations.implementation_for(AlterEnumValuesOp)
def alter_enum_values(operations, operation: AlterEnumValuesOp) -> None:
    """Each database's way; see the op. ``existing=None``: the former values are
    not known (SQLite generated the revision, which stores none)."""
    if operation.values is None:
        log.warning(
            "The values %s had before are not known (generated on SQLite): "
            "left as they are",
            operation.name,
        )
        return
    dialect = operations.migration_context.dialect.name
    existing = operation.existing or []
    if dialect == "postgresql":
        if any(value not in operation.values for value in existing):
            swap_postgresql_type(operations, operation)
        else:
            add_postgresql_values(
                operations, operation.name, operation.values, existing
            )
    elif dialect in ("mysql", "mariadb"):
        operations.alter_column(
            operation.table_name,
            operation.column_name,
            type_=sa.Enum(*operation.values, name=operation.name),
            existing_type=sa.Enum(*existing, name=operation.name) if existing else None,
            **operation.kw,
        )
    elif max(map(len, operation.values)) > max(map(len, existing), default=0):
        # SQLite: a VARCHAR as long as the longest value, longer now.
        with operations.batch_alter_table(operation.table_name) as batch:
            batch.alter_column(
                operation.column_name,
                type_=sa.Enum(*operation.values, name=operation.name),
                **operation.kw,
            )


def swap_postgresql_type(operations, operation: AlterEnumValuesOp) -> None:
    """PostgreSQL has no ``DROP VALUE``: rename the type, create it anew with the
    values, move the column to it (a rewrite of the table under an ACCESS EXCLUSIVE
    lock; a row holding a dropped value fails it), drop the old type. A type that
    other columns use too must be swapped by hand."""
    name, old = operation.name, f"{operation.name}_old"
    table, column = operation.table_name, operation.column_name
    default = operation.kw.get("existing_server_default")
    if isinstance(default, sa.schema.DefaultClause):
        default = default.arg
    alter = f'ALTER TABLE "{table}" ALTER COLUMN "{column}"'
    operations.execute(f'ALTER TYPE "{name}" RENAME TO "{old}"')
    operations.execute(CreateEnumType(postgresql.ENUM(*operation.values, name=name)))
    if default is not None:
        operations.execute(f"{alter} DROP DEFAULT")
    operations.execute(f'{alter} TYPE "{name}" USING "{column}"::text::"{name}"')
    if default is not None:
        value = quoted(default) if isinstance(default, str) else default.text
        operations.execute(f"{alter} SET DEFAULT {value}")
    operations.execute(f'DROP TYPE "{old}"')


def add_postgresql_values(operations, name: str, values: list, existing: list) -> None:
    """``ALTER TYPE ... ADD VALUE IF NOT EXISTS``, each where the models place it:
    after the existing value before it, or before the first one."""
    for position, value in enumerate(values):
        if value in existing:
            continue
        after = next((v for v in reversed(values[:position]) if v in existing), None)
        before = next((v for v in values[position:] if v in existing), None)
        if after is not None:
            where = f" AFTER {quoted(after)}"
        else:
            where = f" BEFORE {quoted(before)}" if before is not None else ""
        operations.execute(
            f'ALTER TYPE "{name}" ADD VALUE IF NOT EXISTS {quoted(value)}{where}'
        )


def quoted(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


@renderers.dispatch_for(AlterEnumValuesOp)
def render_alter_values(autogen_context, operation: AlterEnumValuesOp) -> str:
    """The op as the lines of the revision file."""
    arguments = [
        repr(operation.table_name),
        repr(operation.column_name),
        repr(operation.values),
        f"existing={operation.existing!r}",
        f"name={operation.name!r}",
    ]
    for key, value in operation.kw.items():
        if value is None:
            continue
        if key == "existing_server_default":
            rendered = render_item("server_default", value, autogen_context)
            fallback = f"sa.text({value.arg.text!r})"
            arguments.append(f"{key}={rendered if rendered is not False else fallback}")
        else:
            arguments.append(f"{key}={value!r}")
    return f"op.alter_enum_values({', '.join(arguments)})"


def enum_columns(metadata: sa.MetaData):
    """``(table, column)`` for every named native Enum column of the models."""
    for table in metadata.sorted_tables:
        for column in table.columns:
            type_ = column.type
            if isinstance(type_, sa.Enum) and type_.name and type_.native_enum:
                yield table, column


def compare_enum_values(autogen_context, upgrade_ops, schemas):
    """A ``schema`` comparator for PostgreSQL: an Enum whose values differ from
    its type's labels in ``pg_enum`` gets an ``alter_enum_values`` op."""
    connection = autogen_context.connection
    rows = connection.execute(
        sa.text(
            "SELECT t.typname, e.enumlabel FROM pg_type t "
            "JOIN pg_enum e ON e.enumtypid = t.oid "
            "WHERE pg_type_is_visible(t.oid) ORDER BY t.typname, e.enumsortorder"
        )
    )
    labels: dict[str, list[str]] = {}
    for name, label in rows:
        labels.setdefault(name, []).append(label)
    inspector = autogen_context.inspector
    for table, column in enum_columns(autogen_context.metadata):
        existing = labels.get(column.type.name)
        if existing is None or existing == list(column.type.enums):
            continue
        if table.name not in inspector.get_table_names():
            continue
        reflected = {c["name"]: c for c in inspector.get_columns(table.name)}
        if column.name not in reflected:
            continue  # a new column: add_column and create_enum_type bring it
        found = reflected[column.name]
        default = found.get("default")
        upgrade_ops.ops.append(
            AlterEnumValuesOp(
                table.name,
                column.name,
                list(column.type.enums),
                existing=existing,
                name=column.type.name,
                existing_nullable=found["nullable"],
                existing_server_default=(
                    sa.DefaultClause(sa.text(default)) if default else None
                ),
                existing_comment=column.comment,
            )
        )
    return PriorityDispatchResult.CONTINUE


def portable_value_changes(script: ops.MigrationScript) -> None:
    """Write the changed Enum values Alembic found as ``alter_enum_values`` in the
    upgrade, and derive the downgrade again from it."""
    for upgrade_ops, downgrade_ops in zip(
        script.upgrade_ops_list, script.downgrade_ops_list, strict=True
    ):
        if from_mysql_enum_changes(upgrade_ops):
            upgrade_ops.reverse_into(downgrade_ops)


def from_mysql_enum_changes(container) -> bool:
    """Turn Alembic's own detection of changed Enum values (an ``alter_column`` of
    the type: MariaDB/MySQL compare the values, SQLite the VARCHAR's length) into
    ``alter_enum_values``, which PostgreSQL runs without rewriting the table; it
    stands after its table's other ops. On SQLite the former values are not known:
    a column turned from a String into an Enum looks the same there, and fails on
    PostgreSQL (its type does not exist) rather than pass silently."""
    result = []
    for table_ops in container.ops:
        result.append(table_ops)
        if not isinstance(table_ops, ops.ModifyTableOps):
            continue
        for each in list(table_ops.ops):
            new = getattr(each, "modify_type", None)
            old = getattr(each, "existing_type", None)
            # SQLite reflects an Enum as a VARCHAR: the former values are not known.
            if not (
                isinstance(new, sa.Enum) and isinstance(old, sa.String) and new.name
            ):
                continue
            if (
                each.modify_nullable is not None
                or each.modify_server_default is not False
            ):
                continue  # more than the values changed: keep Alembic's op
            table_ops.ops.remove(each)
            result.append(
                AlterEnumValuesOp(
                    table_ops.table_name,
                    each.column_name,
                    list(new.enums),
                    existing=list(old.enums) if isinstance(old, sa.Enum) else None,
                    name=new.name,
                    existing_nullable=each.existing_nullable,
                    existing_server_default=each.existing_server_default or None,
                    existing_comment=each.existing_comment,
                )
            )
        if table_ops.is_empty():
            result.remove(table_ops)
    changed = result != container.ops
    container.ops[:] = result
    return changed


def setup(plugin) -> None:
    """Register the PostgreSQL comparator (Alembic's Plugin API)."""
    plugin.add_autogenerate_comparator(
        compare_enum_values,
        "schema",
        "enums",
        qualifier="postgresql",
        priority=DispatchPriority.LAST,
    )
