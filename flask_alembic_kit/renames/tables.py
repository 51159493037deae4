"""Renamed tables, asked about as renamed columns are (``columns.py``).

Autogenerate sees a renamed table as one table dropped and another created: its rows
are lost on upgrade. A table dropped and a table created with the same columns (the
same names and types) is a probable rename. On a terminal,
``alembic revision --autogenerate`` asks::

    Did you rename table posts to articles? [y/N]

Yes writes ``op.rename_table("posts", "articles")``, which keeps the rows, and
renames what carries the table's name under the naming convention (``ix_posts_...``,
``uq_posts_...``, ``ck_posts_...``): the indexes and the unique and CHECK
constraints whose names differ are created under the new name and dropped under the
old one after the rename, so that ``alembic check`` is clean; the primary key,
foreign keys and sequences with ``op.rename_table_keys`` (``table_keys.py``), so
that the old name can be used again. No answer, or no terminal, keeps the drop and
the create, with a comment above them.
"""

import sqlalchemy as sa
from alembic.autogenerate import renderers
from alembic.operations import ops

from flask_alembic_kit.renames.columns import NoteOp, ask, same_type
from flask_alembic_kit.renames.table_keys import RenameTableKeysOp


class RenameTableOp(ops.RenameTableOp):
    """``op.rename_table(old, new)``, whose downgrade renames it back."""

    def reverse(self) -> "RenameTableOp":
        """The rename the other way."""
        return RenameTableOp(self.new_table_name, self.table_name, schema=self.schema)


@renderers.dispatch_for(RenameTableOp)
def render_rename(autogen_context, operation: RenameTableOp) -> str:
    """The op as a line of the revision file."""
    schema = f", schema={operation.schema!r}" if operation.schema else ""
    old, new = operation.table_name, operation.new_table_name
    return f"op.rename_table({old!r}, {new!r}{schema})"


def same_columns(old: sa.Table, new: sa.Table) -> bool:
    """Whether two tables have the same column names, with types of one meaning."""
    if set(old.c.keys()) != set(new.c.keys()):
        return False
    return all(same_type(column.type, new.c[column.key].type) for column in old.c)


def loss_note(old: str, new: str) -> NoteOp:
    """The comment above a drop and a create that may be a rename."""

    def lines(dropped: str, created: str) -> list[str]:
        """The comment for dropping ``dropped`` and creating ``created``."""
        return [
            f"Renamed? This drops table {dropped} and its rows, then creates "
            f"{created}.",
            f"To keep the rows, write op.rename_table({dropped!r}, {created!r})",
            "instead (docs/autogenerate.md).",
        ]

    return NoteOp(lines(old, new), lines(new, old), tables={old, new})


def named_constraints(table: sa.Table) -> dict:
    """The table's named unique and CHECK constraints, by name."""
    kinds = (sa.UniqueConstraint, sa.CheckConstraint)
    return {
        constraint.name: constraint
        for constraint in table.constraints
        if isinstance(constraint, kinds) and isinstance(constraint.name, str)
    }


def renamed_table(old: sa.Table, new: sa.Table, index_ops: list) -> list:
    """The ops that rename ``old`` to ``new``, then create what carries the new
    name and drop what carries the old one (in that order, so that a foreign key
    always has an index: MariaDB requires one). ``index_ops``: autogenerate's
    ``drop_index`` ops for the old table and ``create_index`` ops for the new."""
    created = {o.index_name: o for o in index_ops if isinstance(o, ops.CreateIndexOp)}
    dropped = {o.index_name: o for o in index_ops if isinstance(o, ops.DropIndexOp)}
    old_constraints = named_constraints(old)
    new_constraints = named_constraints(new)
    creates = [op for name, op in created.items() if name not in dropped]
    creates += [
        ops.AddConstraintOp.from_constraint(constraint)
        for name, constraint in new_constraints.items()
        if name not in old_constraints
    ]
    drops = [op for name, op in dropped.items() if name not in created]
    drops += [
        ops.DropConstraintOp.from_constraint(constraint)
        for name, constraint in old_constraints.items()
        if name not in new_constraints
    ]
    for operation in drops:
        operation.table_name = new.name  # the names stay with the renamed table
    renamed = [
        RenameTableOp(old.name, new.name, schema=old.schema),
        RenameTableKeysOp(new.name, key_names(old, new), (old.name, new.name)),
    ]
    if not creates + drops:
        return renamed
    return [*renamed, ops.ModifyTableOps(new.name, creates + drops, schema=new.schema)]


def key_names(old: sa.Table, new: sa.Table) -> dict[str, str]:
    """The primary key's and foreign keys' names in the reflected ``old`` table
    and the model's ``new`` one, where they differ: former -> new."""
    pairs = [(old.primary_key.name, new.primary_key.name)]

    def signature(key: sa.ForeignKeyConstraint) -> tuple:
        """What a foreign key is, whatever its name."""
        return tuple(key.column_keys), key.referred_table.name

    new_keys = {signature(key): key.name for key in new.foreign_key_constraints}
    pairs += [
        (key.name, new_keys.get(signature(key))) for key in old.foreign_key_constraints
    ]
    return {
        former: name
        for former, name in pairs
        if isinstance(former, str) and isinstance(name, str) and former != name
    }


def index_ops_of(operations: list, table_names: set[str]) -> list:
    """Autogenerate's index ops for the tables named, taken out of ``operations``."""
    taken = []
    for operation in operations:
        if (
            isinstance(operation, ops.ModifyTableOps)
            and operation.table_name in table_names
        ):
            indexes = (ops.CreateIndexOp, ops.DropIndexOp)
            taken += [op for op in operation.ops if isinstance(op, indexes)]
            operation.ops[:] = [o for o in operation.ops if not isinstance(o, indexes)]
    operations[:] = [
        op
        for op in operations
        if not (isinstance(op, ops.ModifyTableOps) and op.is_empty())
    ]
    return taken


def ask_about_table_renames(upgrade_ops: ops.UpgradeOps) -> None:
    """Ask about every probable table rename of the upgrade, and write the answer."""
    operations = upgrade_ops.ops
    drops = [op for op in operations if isinstance(op, ops.DropTableOp)]
    creates = [op for op in operations if isinstance(op, ops.CreateTableOp)]
    notes = {}  # id of the create a comment names -> the comment
    for drop in drops:
        old = drop.to_table()
        candidates = [
            create
            for create in creates
            if same_columns(old, create.to_table()) and create.schema == drop.schema
        ]
        for create in candidates:
            if ask(f"Did you rename table {old.name} to {create.table_name}?"):
                creates.remove(create)
                if id(create) in notes:  # an earlier "Renamed?" named this create
                    operations.remove(notes.pop(id(create)))
                new = create.to_table()
                index_ops = index_ops_of(operations, {old.name, new.name})
                position = operations.index(create)
                operations[position : position + 1] = renamed_table(old, new, index_ops)
                operations.remove(drop)
                break
        else:
            free = [create for create in candidates if id(create) not in notes]
            if free:
                notes[id(free[0])] = loss_note(old.name, free[0].table_name)
                first = min(operations.index(drop), operations.index(free[0]))
                operations.insert(first, notes[id(free[0])])
