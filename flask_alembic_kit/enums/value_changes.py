"""Enum values changed in the models, detected on each database and written as
``op.alter_enum_values`` (``values.py``).

Adding a value to an ``sa.Enum`` of the models is detected on PostgreSQL (an
autogenerate plugin reading ``pg_enum``, registered through Alembic's Plugin API),
on MariaDB/MySQL (Alembic's own comparison, whose ``alter_column`` is rewritten
here) and on SQLite (a plugin reading the column's CHECK, which revision files
write with ``create_constraint=True``). A SQLite column made before revisions wrote
that CHECK keeps no values, only a VARCHAR as long as the longest: a value longer
than those before is detected there, another is not (docs/autogenerate.md).
"""

import sqlalchemy as sa
from alembic import context
from alembic.operations import ops
from alembic.util import DispatchPriority, PriorityDispatchResult

from flask_alembic_kit.enums.sqlite_check import values_of_check
from flask_alembic_kit.enums.values import AlterEnumValuesOp, values_op
from flask_alembic_kit.internals import is_type_bound
from flask_alembic_kit.renames.columns import ask

NAME = "flask_alembic_kit.enums.value_changes"  # the autogenerate plugin's name


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
        upgrade_ops.ops.append(
            values_op(table, column, existing, reflected[column.name])
        )
    return PriorityDispatchResult.CONTINUE


def compare_sqlite_enum_values(autogen_context, upgrade_ops, schemas):
    """A ``schema`` comparator for SQLite: an Enum whose values differ from those
    of its column's CHECK (``create_constraint=True``, rendering.py) gets an
    ``alter_enum_values`` op. A column without that CHECK (made by a revision
    written before) keeps no values: Alembic's comparison of the VARCHAR's length
    is all there is."""
    inspector = autogen_context.inspector
    tables = set(inspector.get_table_names())
    for table, column in enum_columns(autogen_context.metadata):
        if table.name not in tables:
            continue
        reflected = {c["name"]: c for c in inspector.get_columns(table.name)}
        if column.name not in reflected:
            continue  # a new column: add_column brings it
        checks = inspector.get_check_constraints(table.name)
        existing = next(
            (
                values
                for check in checks
                if (values := values_of_check(check["sqltext"], column.name))
                is not None
            ),
            None,
        )
        if existing is None or existing == list(column.type.enums):
            continue
        upgrade_ops.ops.append(
            values_op(table, column, existing, reflected[column.name])
        )
    return PriorityDispatchResult.CONTINUE


def not_an_enum_check(item, name, type_, reflected, compare_to) -> bool:
    """Alembic's ``include_object`` hook: the CHECK that holds an Enum column to its
    values (SQLite's, from ``create_constraint=True``) is left out of the CHECK
    constraints' comparison (``alembic.ext.checkconstraint_byname``): its values
    are compared above, and the servers have none (their ENUM holds the values)."""
    if type_ != "check_constraint":
        return True
    if is_type_bound(item):  # a model's Enum(create_constraint=True)
        return False
    parent = getattr(item, "parent", None)  # the reflected table, if attached
    if not reflected or not isinstance(parent, sa.Table):
        return True
    metadata = context.get_context().opts["target_metadata"]
    table = metadata.tables.get(parent.name) if metadata is not None else None
    if table is None:
        return True
    enum_names = {
        column.name
        for model_table, column in enum_columns(metadata)
        if model_table is table
    }
    # An Enum column of the models, or one they dropped (drop_column takes the
    # CHECK with it, values.py): not a CHECK of its own to compare.
    return not any(
        values_of_check(str(item.sqltext), name) is not None
        for name in enum_names | (set(parent.c.keys()) - set(table.c.keys()))
    )


def portable_value_changes(script: ops.MigrationScript) -> None:
    """Write the changed Enum values Alembic found as ``alter_enum_values`` in the
    upgrade, and derive the downgrade again from it."""
    for upgrade_ops, downgrade_ops in zip(
        script.upgrade_ops_list, script.downgrade_ops_list, strict=True
    ):
        changed = from_mysql_enum_changes(upgrade_ops)
        if any(isinstance(op, AlterEnumValuesOp) for op in upgrade_ops.ops):
            values_in_order(upgrade_ops)
            changed = True
        if changed:
            upgrade_ops.reverse_into(downgrade_ops)
            values_in_order(downgrade_ops)


def from_mysql_enum_changes(container) -> bool:
    """Turn Alembic's own detection of changed Enum values (an ``alter_column`` of
    the type: MariaDB/MySQL compare the values, SQLite the VARCHAR's length) into
    ``alter_enum_values``, which PostgreSQL runs without rewriting the table
    (``values_in_order`` places it). A default changed at the same time stays an
    ``alter_column`` of the default alone. On SQLite the former values are not
    known: a column turned from a String into an Enum looks the same there, and
    fails on PostgreSQL (its type does not exist) rather than pass silently."""
    result = []
    # The changes a comparator found already (PostgreSQL's, SQLite's CHECK).
    found = {
        (op.table_name, op.column_name)
        for op in container.ops
        if isinstance(op, AlterEnumValuesOp)
    }
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
            if each.modify_nullable is not None:
                continue  # more than the values changed: keep Alembic's op
            if each.modify_server_default is False:
                table_ops.ops.remove(each)
            else:  # the default's change stays, on its own, after the values'
                each.modify_type, each.existing_type = None, new
            if (table_ops.table_name, each.column_name) in found:
                continue  # written already, with the values the database had
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


def values_in_order(container) -> None:
    """The ``alter_enum_values`` of each table moved, in their order, before its
    other ops. One that drops values can fail on the rows (a row holding a dropped
    value): it runs before anything else of its table has changed (MariaDB commits
    each ALTER as it goes), but after a change of the column's default (a default
    may move off a dropped value), which is split out to run first. For the
    upgrade, then for the downgrade derived from it."""
    operations = container.ops
    moved = [op for op in operations if isinstance(op, AlterEnumValuesOp)]
    for table_name in dict.fromkeys(op.table_name for op in moved):
        table_ops = next(
            (
                op
                for op in operations
                if isinstance(op, ops.ModifyTableOps) and op.table_name == table_name
            ),
            None,
        )
        if table_ops is None:
            continue
        values = [op for op in moved if op.table_name == table_name]
        defaults = [
            change
            for operation in values
            if operation.dropped()
            and (change := default_change(table_ops, operation)) is not None
        ]
        for each in values:
            operations.remove(each)
        for change in defaults:
            table_ops.ops.remove(change)
        position = operations.index(table_ops)
        first = [ops.ModifyTableOps(table_name, defaults, schema=table_ops.schema)]
        operations[position:position] = (first if defaults else []) + values
        if table_ops.is_empty():
            operations.remove(table_ops)


def default_change(table_ops: ops.ModifyTableOps, operation: AlterEnumValuesOp):
    """The change of the default of the column whose values ``operation`` changes,
    if its table's ops have one; the values' op then restates the new default."""
    for each in table_ops.ops:
        if (
            isinstance(each, ops.AlterColumnOp)
            and each.column_name == operation.column_name
            and each.modify_server_default is not False
        ):
            operation.kw["existing_server_default"] = each.modify_server_default
            return each
    return None


def ask_about_value_renames(upgrade_ops: ops.UpgradeOps) -> None:
    """Ask about each Enum value dropped while another is added (on a terminal):
    yes renames it (``renamed=``), keeping the rows that hold it. A type that
    several columns share is asked about once."""
    answers = {}  # (type, former value, new value) -> the answer
    for operation in upgrade_ops.ops:
        if not isinstance(operation, AlterEnumValuesOp):
            continue
        for old in operation.dropped():
            added = operation.added()
            # The value in the dropped one's place first, then the others.
            place = (operation.existing or []).index(old)
            candidates = sorted(
                added, key=lambda new: (operation.values.index(new) != place, new)
            )
            for new in candidates:
                question = (
                    f"Did you rename the value {old!r} of {operation.name} "
                    f"({operation.table_name}.{operation.column_name}) to {new!r}?"
                )
                key = (operation.name, old, new)
                if key not in answers:
                    answers[key] = ask(question)
                if answers[key]:
                    operation.renamed[old] = new
                    break


def setup(plugin) -> None:
    """Register the PostgreSQL comparator (Alembic's Plugin API)."""
    plugin.add_autogenerate_comparator(
        compare_enum_values,
        "schema",
        "enums",
        qualifier="postgresql",
        priority=DispatchPriority.LAST,
    )
    plugin.add_autogenerate_comparator(
        compare_sqlite_enum_values,
        "schema",
        "enums",
        qualifier="sqlite",
        priority=DispatchPriority.LAST,
    )
