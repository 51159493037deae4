"""Enum values changed on a type that exists: ``op.alter_enum_values``, one op that
each database runs its own way, so that a revision generated on one runs on the
others. ``value_changes.py`` detects the changes and writes this op.
"""

import logging

import sqlalchemy as sa
from alembic.autogenerate import renderers
from alembic.operations import MigrateOperation, Operations
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql.named_types import CreateEnumType

from flask_alembic_kit.defaults import sql_value
from flask_alembic_kit.enums.sqlite_check import enum_check, sqlite_values
from flask_alembic_kit.rendering import render_item
from flask_alembic_kit.sqltext import execute, literal

log = logging.getLogger("alembic.env")


@Operations.register_operation("alter_enum_values")
class AlterEnumValuesOp(MigrateOperation):
    """Change the values an Enum column accepts, on each database its own way.

    PostgreSQL: ``ALTER TYPE ... ADD VALUE IF NOT EXISTS`` for each new value, which
    rewrites no table (a bare ``ALTER COLUMN ... TYPE`` would, under an ACCESS
    EXCLUSIVE lock); a value dropped swaps the type, which does rewrite the table
    (``migration-review`` reports ``enum-value-dropped``). MariaDB/MySQL: the
    column's ``ENUM(...)`` is restated (``MODIFY``). SQLite: the table rebuilt with
    the CHECK of the new values (``sqlite_values``).

    ``renamed={"draft": "pending"}``: values renamed first, keeping the rows that
    hold them. PostgreSQL: ``ALTER TYPE ... RENAME VALUE`` (no row is touched).
    MariaDB/MySQL: the ``ENUM`` widened by the new name, the rows updated, then
    narrowed. SQLite: the rows updated.
    """

    def __init__(
        self, table_name, column_name, values, *, existing, name, renamed=None, **kw
    ):
        """The column, its new and former values, the type's name, the values
        renamed (former -> new), and what MariaDB's ``MODIFY`` restates:
        ``existing_nullable``, ``existing_server_default``, ``existing_comment``."""
        self.table_name = table_name
        self.column_name = column_name
        self.values = None if values is None else list(values)
        self.existing = None if existing is None else list(existing)
        self.name = name
        self.renamed = dict(renamed or {})
        self.kw = kw

    def dropped(self) -> list[str]:
        """The former values neither kept nor renamed."""
        values = self.values or []
        return [v for v in self.existing or [] if v not in values + [*self.renamed]]

    def added(self) -> list[str]:
        """The new values that are neither former ones nor renamed ones."""
        existing = (self.existing or []) + list(self.renamed.values())
        return [v for v in self.values or [] if v not in existing]

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
            renamed={new: old for old, new in self.renamed.items()},
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
    kw = operation.kw
    if operation.renamed:
        rename_values(operations, operation, dialect)
        existing = [operation.renamed.get(value, value) for value in existing]
        kw = {**kw, "existing_server_default": renamed_default(operation)}
    if dialect == "postgresql":
        if any(value not in operation.values for value in existing):
            swap_postgresql_type(operations, operation, kw)
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
            **kw,
        )
    else:
        sqlite_values(operations, operation, operation.values, kw)


def default_value(default) -> str | None:
    """A server default's literal value (``'draft'``), if it is one."""
    if isinstance(default, sa.schema.DefaultClause):
        default = default.arg
    if isinstance(default, sa.sql.elements.TextClause):
        value, is_literal = sql_value(default.text)  # 'draft'::tag_status, too
        return value if is_literal else None
    return default if isinstance(default, str) else None


def renamed_default(operation: AlterEnumValuesOp):
    """The column's server default once the values are renamed: a renamed value's
    new name (MariaDB's ``MODIFY`` restates it, and the old one no longer exists)."""
    default = operation.kw.get("existing_server_default")
    value = default_value(default)
    return operation.renamed.get(value, default) if value is not None else default


def rename_values(operations, operation: AlterEnumValuesOp, dialect: str) -> None:
    """The values of ``renamed`` renamed, each database its own way (see the op)."""
    renamed = operation.renamed
    if dialect == "postgresql":
        # Guarded: a type shared by two columns gets one op per column.
        type_name = operations.migration_context.dialect.identifier_preparer.quote(
            operation.name
        )
        for old, new in renamed.items():
            execute(
                operations,
                "DO $$ BEGIN IF EXISTS (SELECT FROM pg_enum WHERE enumtypid = "
                f"to_regtype({literal(type_name)}) AND enumlabel = {literal(old)}) "
                f"THEN ALTER TYPE {type_name} RENAME VALUE {literal(old)} TO "
                f"{literal(new)}; END IF; END $$",
            )
        return
    existing = operation.existing or []
    both = existing + [new for new in renamed.values() if new not in existing]
    if dialect == "sqlite" and enum_check(
        operations, operation.table_name, operation.column_name
    ):
        sqlite_values(operations, operation, both, operation.kw)  # the new names too
    if dialect in ("mysql", "mariadb"):
        operations.alter_column(
            operation.table_name,
            operation.column_name,
            type_=sa.Enum(*both, name=operation.name),
            existing_type=sa.Enum(*existing, name=operation.name),
            **operation.kw,
        )
    table = sa.table(operation.table_name, sa.column(operation.column_name, sa.String))
    column = table.c[operation.column_name]
    for old, new in renamed.items():
        operations.execute(table.update().where(column == old).values({column: new}))


def swap_postgresql_type(operations, operation: AlterEnumValuesOp, kw: dict) -> None:
    """PostgreSQL has no ``DROP VALUE``: rename the type, create it anew with the
    values, move the column to it (a rewrite of the table under an ACCESS EXCLUSIVE
    lock; a row holding a dropped value fails it), drop the old type. A type that
    other columns use too must be swapped by hand."""
    name, old = operation.name, f"{operation.name}_old"
    table, column = operation.table_name, operation.column_name
    default = kw.get("existing_server_default")
    if isinstance(default, sa.schema.DefaultClause):
        default = default.arg
    alter = f'ALTER TABLE "{table}" ALTER COLUMN "{column}"'
    execute(operations, f'ALTER TYPE "{name}" RENAME TO "{old}"')
    operations.execute(CreateEnumType(postgresql.ENUM(*operation.values, name=name)))
    if default is not None:
        execute(operations, f"{alter} DROP DEFAULT")
    execute(operations, f'{alter} TYPE "{name}" USING "{column}"::text::"{name}"')
    if default is not None:
        value = literal(default) if isinstance(default, str) else default.text
        execute(operations, f"{alter} SET DEFAULT {value}")
    execute(operations, f'DROP TYPE "{old}"')


def add_postgresql_values(operations, name: str, values: list, existing: list) -> None:
    """``ALTER TYPE ... ADD VALUE IF NOT EXISTS``, each where the models place it:
    after the existing value before it, or before the first one."""
    for position, value in enumerate(values):
        if value in existing:
            continue
        after = next((v for v in reversed(values[:position]) if v in existing), None)
        before = next((v for v in values[position:] if v in existing), None)
        if after is not None:
            where = f" AFTER {literal(after)}"
        else:
            where = f" BEFORE {literal(before)}" if before is not None else ""
        execute(
            operations,
            f'ALTER TYPE "{name}" ADD VALUE IF NOT EXISTS {literal(value)}{where}',
        )


def values_op(table, column, existing: list, found: dict) -> AlterEnumValuesOp:
    """The ``alter_enum_values`` from the database's values ``existing`` to the
    model's, restating what MariaDB's ``MODIFY`` needs of the reflected column."""
    default = found.get("default")
    return AlterEnumValuesOp(
        table.name,
        column.name,
        list(column.type.enums),
        existing=existing,
        name=column.type.name,
        existing_nullable=found["nullable"],
        existing_server_default=sa.DefaultClause(sa.text(default)) if default else None,
        existing_comment=column.comment,
    )


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
    if operation.renamed:
        arguments.append(f"renamed={operation.renamed!r}")
    for key, value in operation.kw.items():
        if value is None:
            continue
        if key == "existing_server_default":
            rendered = render_item("server_default", value, autogen_context)
            if rendered is False:  # Alembic's own: the SQL text of the default
                arg = value.arg
                rendered = f"sa.text({getattr(arg, 'text', arg)!r})"
            arguments.append(f"{key}={rendered}")
        else:
            arguments.append(f"{key}={value!r}")
    code = f"op.alter_enum_values({', '.join(arguments)})"
    dropped, added = operation.dropped(), operation.added()
    if not (dropped and added):
        return code
    note = [
        f"# Renamed? This drops {', '.join(map(repr, dropped))} from {operation.name}:"
        " rows holding it",
        "# make the upgrade fail. To rename it and keep the rows, add",
        f"# renamed={{{dropped[0]!r}: {added[0]!r}}} (docs/autogenerate.md).",
    ]
    return "\n".join([*note, code])
