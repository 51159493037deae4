"""The same model change writes the same revision file, in an order the databases
accept.

Alembic collects dropped tables and dropped columns in Python sets, so their order
changes from one run to the next: a referenced table dropped before the table that
references it is refused by PostgreSQL and MariaDB (SQLite hides it, foreign keys
off). Here created tables come parents first, dropped tables children first, dropped
columns in the table's order, and the downgrade is derived again from the result.
A dropped table's indexes go with it (no ``drop_index`` first: MariaDB refuses to
drop an index a foreign key needs).

Tables that reference each other (``teams.captain_id -> players``, ``players.team_id
-> teams``) have no such order: as ``create_all`` does, the tables are created
without the keys that close the cycle, which are added once both exist (in batch
mode, so that SQLite recreates the table with them); the downgrade drops those keys
first.
"""

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from graphlib import CycleError, TopologicalSorter

import sqlalchemy as sa
from alembic.operations import ops

from flask_alembic_kit.internals import reflected_table_of


def referenced_tables(operation: ops.CreateTableOp | ops.DropTableOp) -> set[str]:
    """The other tables that the op's table has foreign keys to (a dropped table's
    op carries the table as reflected, constraints included)."""
    table = operation.to_table()
    names = {key.target_fullname.split(".")[-2] for key in table.foreign_keys}
    return names - {table.name}


def parents_first(operations: list) -> list:
    """Table ops sorted so that a referenced table comes before the tables that
    reference it, the same on every run; tables that reference each other (a
    cycle, which ``close_cycles_later`` breaks for created tables) keep the order
    Alembic gave."""
    by_name = {operation.table_name: operation for operation in operations}
    order = parents_first_order(
        {name: referenced_tables(op) & by_name.keys() for name, op in by_name.items()}
    )
    if order is None:
        return operations
    return [by_name[name] for name in order]


def parents_first_order(references: dict[str, set[str]]) -> list[str] | None:
    """Table names, each after the tables it references; ``None`` for a cycle."""
    graph = TopologicalSorter()
    for name in sorted(references):
        graph.add(name, *sorted(references[name]))
    try:
        return list(graph.static_order())
    except CycleError:
        return None


def cycle_closing_keys(tables: list) -> dict[str, set[str]]:
    """For tables created (or dropped) together, the references to leave out of
    their ``create_table`` so that the rest has a parents-first order: one
    reference of each cycle, from the last table of the cycle by name, the same on
    every run."""
    names = {op.table_name for op in tables}
    references = {op.table_name: referenced_tables(op) & names for op in tables}
    closing: dict[str, set[str]] = {}
    while True:
        try:
            list(TopologicalSorter(references).static_order())
            return closing
        except CycleError as cycle:
            members = set(cycle.args[1])
            child = max(members)
            parent = max(references[child] & members)
            references[child].discard(parent)
            closing.setdefault(child, set()).add(parent)


@contextmanager
def cycles_handled() -> Iterator[None]:
    """Keep SQLAlchemy's warning that tables referencing each other cannot be
    sorted (``metadata.sorted_tables``, which autogenerate reads) from the user:
    ``close_cycles_later`` writes such tables in an order every database takes."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", "Cannot correctly sort tables", category=sa.exc.SAWarning
        )
        yield


# Marks the ops of a key that closes a cycle, which stay where they were put.
CLOSES_A_CYCLE = "closes_a_cycle"


def key_ops(
    table: ops.CreateTableOp | ops.DropTableOp, operation
) -> ops.ModifyTableOps:
    """A key's op on a created or dropped ``table``, in batch mode (SQLite copies
    the table), marked to stay put."""
    table_ops = ops.ModifyTableOps(table.table_name, [operation], schema=table.schema)
    setattr(table_ops, CLOSES_A_CYCLE, True)
    return table_ops


def close_cycles_later(operations: list) -> None:
    """Take the keys that close a cycle out of their ``create_table`` and add them
    with ``create_foreign_key`` after the last table is created."""
    creates = [op for op in operations if isinstance(op, ops.CreateTableOp)]
    closing = cycle_closing_keys(creates)
    if not closing and not any(use_alter_keys(op) for op in creates):
        return
    added = []
    for operation in creates:
        keys = closing_keys(operation, closing)
        added += [
            key_ops(operation, ops.CreateForeignKeyOp.from_constraint(key))
            for key in keys
        ]
    last = max(operations.index(operation) for operation in creates)
    operations[last + 1 : last + 1] = added


def open_cycles_first(operations: list) -> None:
    """For tables dropped together that reference each other: drop the keys that
    close the cycle first (``drop_constraint``), and leave them out of the tables'
    downgrade ``create_table``, whose reverse adds them back once both exist."""
    drops = [op for op in operations if isinstance(op, ops.DropTableOp)]
    closing = cycle_closing_keys(drops)
    # A drop's reflected table, which its reverse is made from (internals).
    reflected = [reflected_table_of(op) for op in drops]
    reflected = [table for table in reflected if table is not None]
    if not closing and not any(use_alter_keys(op) for op in reflected):
        return
    removed = []
    for operation in drops:
        table = reflected_table_of(operation)
        if table is None:  # no reflected table: nothing to break
            continue
        keys = closing_keys(table, closing)
        removed += [
            key_ops(operation, ops.DropConstraintOp.from_constraint(key))
            for key in keys
        ]
    first = min(operations.index(operation) for operation in drops)
    operations[first:first] = removed


def use_alter_keys(create: ops.CreateTableOp) -> list:
    """The foreign keys a model marks ``use_alter=True``: ``CREATE TABLE`` leaves
    them out on PostgreSQL and MariaDB (SQLite writes them inline), expecting an
    ``ALTER TABLE`` that ``op.create_table`` never runs."""
    return [
        item
        for item in create.columns
        if isinstance(item, sa.ForeignKeyConstraint) and item.use_alter
    ]


def closing_keys(create: ops.CreateTableOp, closing: dict[str, set[str]]) -> list:
    """Take the foreign keys that close a cycle out of a ``create_table`` (they
    reference a table in ``closing``'s set for this table), and those marked
    ``use_alter``. Returns them."""
    parents = closing.get(create.table_name, set())
    keys = use_alter_keys(create) + [
        item
        for item in create.columns
        if isinstance(item, sa.ForeignKeyConstraint)
        and not item.use_alter
        and item.elements[0].target_fullname.split(".")[-2] in parents
    ]
    create.columns = [
        item for item in create.columns if not any(item is key for key in keys)
    ]
    return keys


def in_table_order(operations: list) -> list:
    """Dropped columns in the order the database lists them."""

    def position(operation: ops.DropColumnOp) -> tuple:
        """Where the column stands in its reflected table, then its name."""
        column = operation.to_column()
        table = getattr(column, "table", None)
        names = list(table.columns.keys()) if table is not None else []
        index = names.index(column.name) if column.name in names else len(names)
        return index, column.name

    return sorted(operations, key=position)


def replace_in_place(container: list, kind: type, ordered) -> None:
    """Put the items of ``kind`` back into their own positions, in a new order."""
    positions = [i for i, item in enumerate(container) if isinstance(item, kind)]
    items = ordered([container[i] for i in positions])
    for position, item in zip(positions, items, strict=True):
        container[position] = item


def dependency_order(script: ops.MigrationScript) -> None:
    """Reorder the upgrade's table and column ops, then derive the downgrade again."""
    for upgrade_ops, downgrade_ops in zip(
        script.upgrade_ops_list, script.downgrade_ops_list, strict=True
    ):
        close_cycles_later(upgrade_ops.ops)
        open_cycles_first(upgrade_ops.ops)
        replace_in_place(upgrade_ops.ops, ops.CreateTableOp, parents_first)
        replace_in_place(
            upgrade_ops.ops,
            ops.DropTableOp,
            lambda drops: list(reversed(parents_first(drops))),
        )
        for operation in upgrade_ops.ops:
            if isinstance(operation, ops.ModifyTableOps):
                replace_in_place(operation.ops, ops.DropColumnOp, in_table_order)
        with_their_table(upgrade_ops.ops)
        upgrade_ops.reverse_into(downgrade_ops)


def with_their_table(operations: list) -> None:
    """A created table's other ops (its indexes) right after its ``create_table``,
    a dropped table's right before its ``drop_table``, wherever the reordering
    put the table."""
    for operation in [op for op in operations if isinstance(op, ops.ModifyTableOps)]:
        if getattr(operation, CLOSES_A_CYCLE, False):
            continue  # added after every table of the cycle, dropped before all
        key = (operation.schema, operation.table_name)
        for table_op in operations:
            if (
                getattr(table_op, "schema", None),
                getattr(table_op, "table_name", None),
            ) != key:
                continue
            if isinstance(table_op, ops.CreateTableOp):
                operations.remove(operation)
                operations.insert(operations.index(table_op) + 1, operation)
                break
            if isinstance(table_op, ops.DropTableOp):
                operations.remove(operation)
                operations.insert(operations.index(table_op), operation)
                break


def indexes_go_with_their_table(script: ops.MigrationScript) -> None:
    """No ``drop_index`` before the ``drop_table`` of its table, upgrade and
    downgrade alike: dropping a table drops its indexes on every database, and
    MariaDB/MySQL refuse to drop first an index a foreign key needs. (The other
    direction keeps its ``create_index`` after the ``create_table``.)"""
    for container in (*script.upgrade_ops_list, *script.downgrade_ops_list):
        dropped = {
            (op.schema, op.table_name)
            for op in container.ops
            if isinstance(op, ops.DropTableOp)
        }
        for operation in container.ops:
            if (
                isinstance(operation, ops.ModifyTableOps)
                and (operation.schema, operation.table_name) in dropped
            ):
                operation.ops[:] = [
                    op for op in operation.ops if not isinstance(op, ops.DropIndexOp)
                ]
        container.ops[:] = [
            op
            for op in container.ops
            if not (isinstance(op, ops.ModifyTableOps) and op.is_empty())
        ]
