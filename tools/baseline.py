"""The baseline ``migration-squash`` writes: the schema a database has at a
revision, reflected, made portable, and rendered as Alembic ops.

SQLite's reflection is the base: it keeps CHECK constraints, indexes on expressions,
partial-index clauses and server defaults as the revisions wrote them, in SQL every
database takes. PostgreSQL's, when there is one, adds what SQLite does not keep:
comments, enum types, time zones, UUIDs, its own types and index options. The ops
are rendered by Alembic with the project's ``render_item``, as autogenerate renders
a revision.
"""

import re

import sqlalchemy as sa
from alembic.autogenerate import render_python_code
from alembic.operations import ops
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.elements import conv

from flask_alembic_kit.enums.sqlite_check import values_of_check
from flask_alembic_kit.expression_indexes import is_expression_index
from flask_alembic_kit.rendering import render_item
from flask_alembic_kit.state import quiet_context
from tools.schema_lines import sqlite_index_sql

# The generic types that compile to the same DDL as SQLite's reflected ones on every
# database; a reflected type not listed stays as it is (``sa.CHAR(length=32)``).
GENERIC = {
    "INTEGER": lambda t: sa.Integer(),
    "BIGINT": lambda t: sa.BigInteger(),
    "SMALLINT": lambda t: sa.SmallInteger(),
    "VARCHAR": lambda t: sa.String(length=t.length),
    "TEXT": lambda t: sa.Text(),
    "BOOLEAN": lambda t: sa.Boolean(),
    "DATETIME": lambda t: sa.DateTime(),
    "TIMESTAMP": lambda t: sa.DateTime(),
    "DATE": lambda t: sa.Date(),
    "TIME": lambda t: sa.Time(),
    "NUMERIC": lambda t: sa.Numeric(t.precision, t.scale),
    "FLOAT": lambda t: sa.Float(),
    "DOUBLE": lambda t: sa.Double(),
    "JSON": lambda t: sa.JSON(),
    "BLOB": lambda t: sa.LargeBinary(),
}

# PostgreSQL's own types, kept for PostgreSQL next to the type the others have.
POSTGRESQL_ONLY = {"JSONB", "ARRAY", "INET", "CIDR", "MACADDR", "CITEXT", "TSVECTOR"}

# PostgreSQL's reflected types that say more than SQLite's, as generic types.
RICHER = {
    "ENUM": lambda t: sa.Enum(*t.enums, name=t.name),
    "UUID": lambda t: sa.Uuid(),
    "INTERVAL": lambda t: sa.Interval(),
    "TIMESTAMP": lambda t: sa.DateTime(timezone=True),
    "TIME": lambda t: sa.Time(timezone=True),
}


def add_sqlite_indexes(connection: sa.Connection, metadata: sa.MetaData) -> None:
    """Give SQLite's reflected indexes their WHERE clause, and add the indexes on
    expressions it skipped, from the SQL SQLite keeps as written."""
    inspector = sa.inspect(connection)
    for table in metadata.tables.values():
        from_sql = sqlite_index_sql(inspector, table.name)
        for index in table.indexes:
            where = from_sql.get(index.name, {}).get("where")
            if where:
                index.dialect_kwargs["sqlite_where"] = sa.text(where)
        known = {index.name for index in table.indexes}
        for name, found in from_sql.items():
            if name in known:
                continue
            expressions = [
                table.c[part.strip('"`')]
                if part.strip('"`') in table.c
                else sa.text(part)
                for part in found["parts"]
            ]
            where = {"sqlite_where": sa.text(found["where"])} if found["where"] else {}
            sa.Index(name, *expressions, unique=found["unique"], _table=table, **where)


def portable_schema(sqlite: sa.MetaData, details: sa.MetaData | None) -> sa.MetaData:
    """SQLite's reflected schema, with generic types, and what PostgreSQL keeps
    that SQLite does not (``details``: its reflection, where it was migrated too)."""
    for table in sqlite.tables.values():
        # The names the database has, as they are: ``op.f()`` keeps the models'
        # naming convention from being applied to them again.
        for item in (*table.constraints, *table.indexes):
            if item.name:
                item.name = conv(item.name)
        for index in table.indexes:
            index.unique = bool(index.unique)  # SQLite says 1
        for column in table.c:
            generic = GENERIC.get(type(column.type).__name__)
            if generic is not None:
                column.type = generic(column.type)
            if column.computed is not None and not column.computed.persisted:
                column.computed.persisted = None  # each database's default kind
        other = details.tables.get(table.name) if details is not None else None
        if other is not None:
            with_postgresql_details(table, other)
    return sqlite


def with_postgresql_details(table: sa.Table, other: sa.Table) -> None:
    """The comments, enum types, time zones, UUIDs and PostgreSQL-only types of
    ``other`` (PostgreSQL's reflection of ``table``), and its index options."""
    table.comment = other.comment
    for column in table.c:
        if column.name not in other.c:
            continue
        found = other.c[column.name]
        column.comment = found.comment
        name = type(found.type).__name__
        zoned = getattr(found.type, "timezone", False)
        if name in RICHER and (name not in ("TIMESTAMP", "TIME") or zoned):
            column.type = RICHER[name](found.type)
            if name == "ENUM":  # its CHECK on SQLite, if it has one, with the type
                column.type.create_constraint = drop_enum_check(table, column.name)
        elif isinstance(column.type, sa.types.NullType):
            column.type = found.type  # a type SQLite does not know
        elif name in POSTGRESQL_ONLY:
            # e.g. JSON on SQLite and MariaDB, JSONB on PostgreSQL
            column.type = column.type.with_variant(found.type, "postgresql")
    indexes = {index.name: index for index in other.indexes}
    for index in table.indexes:
        found = indexes.get(str(index.name))
        if found is None:
            continue
        for key in ("where", "using", "include"):
            value = found.dialect_options["postgresql"].get(key)
            if value and value != "btree":
                if key == "where":
                    value = sa.text(str(value))
                index.dialect_kwargs[f"postgresql_{key}"] = value


def drop_enum_check(table: sa.Table, column: str) -> bool:
    """Remove SQLite's reflected CHECK of an Enum column's values, if it has one
    (a revision written before revisions wrote ``create_constraint=True`` made
    none): the Enum written with ``create_constraint=True`` creates it again, on
    SQLite only."""
    found = False
    for constraint in list(table.constraints):
        if isinstance(constraint, sa.CheckConstraint) and (
            values_of_check(str(constraint.sqltext), column) is not None
        ):
            table.constraints.discard(constraint)
            found = True
    return found


def baseline_render_item(type_: str, item, autogen_context):
    """The project's ``render_item``, but an Enum as the baseline decided: with its
    CHECK where SQLite had one, without where it had none."""
    if type_ == "type" and type(item) is sa.Enum:
        prefix = autogen_context.opts.get("sqlalchemy_module_prefix") or "sa."
        return f"{prefix}{item!r}"
    return render_item(type_, item, autogen_context)


def rendered(container: ops.OpContainer, batch: bool = False) -> str:
    """Ops as the Python lines of a revision, as autogenerate renders them."""
    # PostgreSQL's renderer knows its own types (JSONB, ARRAY) in a variant.
    context = quiet_context(dialect=postgresql.dialect())
    code = render_python_code(
        container,
        render_item=baseline_render_item,
        migration_context=context,
        render_as_batch=batch,
    )
    lines = [line for line in code.splitlines() if not line.strip().startswith("# ###")]
    return "\n".join(lines).strip("\n")  # each line indented for a function body


def baseline_ops(metadata: sa.MetaData) -> tuple[str, str, str]:
    """The baseline's ``upgrade()`` and ``downgrade()`` bodies, and its imports.

    Tables in dependency order, each with its indexes; foreign keys that form a
    cycle (two tables pointing at each other) are added once both tables exist,
    and dropped first. Dropping a table drops its indexes (MariaDB refuses a
    foreign key's index first) and, on PostgreSQL, the enum types no other column
    uses.
    """
    ordered = sa.schema.sort_tables_and_constraints(metadata.tables.values())
    cycles = [key for table, keys in ordered if table is None for key in keys]
    for key in cycles:
        key.parent.constraints.discard(key)
    tables = [table for table, _ in ordered if table is not None]
    upgrade, on_expressions = ops.UpgradeOps(ops=[]), ops.UpgradeOps(ops=[])
    for table in tables:
        upgrade.ops.append(ops.CreateTableOp.from_table(table))
        for index in sorted(table.indexes, key=lambda index: index.name):
            on = on_expressions if is_expression_index(index) else upgrade
            on.ops.append(ops.CreateIndexOp.from_index(index))
    later = ops.UpgradeOps(
        ops=[per_table(key, ops.CreateForeignKeyOp) for key in cycles]
    )
    first = ops.DowngradeOps(
        ops=[per_table(key, ops.DropConstraintOp) for key in cycles]
    )
    downgrade = ops.DowngradeOps(
        ops=[ops.DropTableOp.from_table(table) for table in reversed(tables)]
    )
    upgrades = rendered(upgrade)
    if later.ops:
        upgrades += "\n\n" + rendered(later, batch=True)
    if on_expressions.ops:
        guarded = rendered(on_expressions).replace("\n", "\n    ")
        upgrades += (
            "\n\n    # MariaDB and MySQL have no indexes on expressions: the history "
            "made\n    # these on the other databases only.\n"
            '    if op.get_context().dialect.name not in ("mysql", "mariadb"):\n'
            f"    {guarded}"
        )
    downgrades = rendered(downgrade)
    if first.ops:
        downgrades = rendered(first, batch=True) + "\n\n" + downgrades
    dialects = sorted(set(re.findall(r"\b(postgresql|mysql|sqlite)\.", upgrades)))
    imports = "".join(f"from sqlalchemy.dialects import {name}\n" for name in dialects)
    return upgrades.lstrip(), downgrades.lstrip(), imports


def per_table(key: sa.ForeignKeyConstraint, op_class) -> ops.ModifyTableOps:
    """A foreign key's create or drop op, in its table's batch (SQLite copies the
    table to change its keys)."""
    return ops.ModifyTableOps(key.parent.name, [op_class.from_constraint(key)])
