"""Renamed columns, as Django's ``makemigrations`` asks about them.

Autogenerate sees a renamed column as one column dropped and another added: the data
of the dropped one is lost on upgrade. A column dropped and a column of the same
type added to the same table is a probable rename. On a terminal,
``alembic revision --autogenerate`` asks::

    Did you rename users.bio to users.biography (TEXT)? [y/N]

Yes writes ``alter_column(..., new_column_name=...)``, which keeps the data. No
answer, or no terminal (CI, scripts), keeps the drop and the add, with a comment
above them saying that the column's data is lost and how to make it a rename.
"""

import sys

import sqlalchemy as sa
from alembic.autogenerate import renderers
from alembic.operations import MigrateOperation, ops

from flask_alembic_kit.internals import type_affinity


class NoteOp(MigrateOperation):
    """A comment in the revision file, above the ops it is about."""

    def __init__(self, lines: list[str], reverse_lines: list[str], tables=()) -> None:
        """The comment's lines, those of the downgrade's comment, and the tables
        whose creation and drop it is about (none: it is about a table's columns)."""
        self.lines = lines
        self.reverse_lines = reverse_lines
        self.tables = set(tables)

    def reverse(self) -> "NoteOp":
        """The downgrade's comment."""
        return NoteOp(self.reverse_lines, self.lines, self.tables)


@renderers.dispatch_for(NoteOp)
def render_note(autogen_context, operation: NoteOp) -> str:
    """The comment lines."""
    return "\n".join(f"# {line}" for line in operation.lines)


class RenameColumnOp(ops.AlterColumnOp):
    """``alter_column(old, new_column_name=new)``, whose downgrade renames it back
    (Alembic's own reverse keeps the name)."""

    @classmethod
    def renaming(cls, table: str, old: str, new: str, **existing) -> "RenameColumnOp":
        """``old`` renamed to ``new``; ``existing``: ``existing_type=`` and the like."""
        return cls(table, old, modify_name=new, **existing)

    def reverse(self) -> "RenameColumnOp":
        """The rename the other way."""
        return RenameColumnOp.renaming(
            self.table_name,
            self.modify_name,
            self.column_name,
            schema=self.schema,
            existing_type=self.existing_type,
            existing_nullable=self.existing_nullable,
            existing_server_default=self.existing_server_default,
            existing_comment=self.existing_comment,
        )


def same_type(dropped: sa.types.TypeEngine, added: sa.types.TypeEngine) -> bool:
    """Whether two column types mean the same (``TEXT`` reflected, ``sa.Text()``)."""
    if type_affinity(dropped) is not type_affinity(added):
        return False
    return getattr(dropped, "length", None) == getattr(added, "length", None)


def loss_note(table: str, dropped: str, added: str) -> NoteOp:
    """The comment above a drop and an add that may be a rename."""

    def lines(old: str, new: str) -> list[str]:
        """The comment for dropping ``old`` and adding ``new``."""
        return [
            f"Renamed? This drops {table}.{old} and its data, then adds {table}.{new}.",
            f"To keep the data, write alter_column({old!r}, new_column_name={new!r})",
            "instead of the two ops below (docs/autogenerate.md).",
        ]

    return NoteOp(lines(dropped, added), lines(added, dropped))


def ask(question: str) -> bool:
    """Ask on the terminal; no terminal, or anything but y/yes, is no."""
    if not sys.stdin.isatty():
        return False
    try:
        return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")
    except EOFError:
        return False


def renamed(table_ops: ops.ModifyTableOps, dialect) -> list:
    """The table's ops with each probable rename asked about and written as the
    answer says. A "no" leaves the added column to the next dropped one."""
    result = list(table_ops.ops)
    drops = [op for op in result if isinstance(op, ops.DropColumnOp)]
    adds = [op for op in result if isinstance(op, ops.AddColumnOp)]
    table = table_ops.table_name
    notes = {}  # id of the add a comment names -> the comment
    for drop in drops:
        old = drop.to_column()
        candidates = [add for add in adds if same_type(old.type, add.column.type)]
        for match in candidates:
            new = match.column
            type_name = new.type.compile(dialect=dialect)
            question = f"Did you rename {table}.{old.name} to {table}.{new.name}"
            if ask(f"{question} ({type_name})?"):
                adds.remove(match)
                if id(match) in notes:  # an earlier "Renamed?" named this add
                    result.remove(notes.pop(id(match)))
                rename = RenameColumnOp.renaming(
                    table,
                    old.name,
                    new.name,
                    existing_type=new.type,
                    existing_nullable=old.nullable,
                    existing_server_default=old.server_default,
                    existing_comment=new.comment,
                )
                result[result.index(match)] = rename
                result.remove(drop)
                break
        else:
            free = [add for add in candidates if id(add) not in notes]
            if free:
                notes[id(free[0])] = loss_note(table, old.name, free[0].column.name)
                first = min(result.index(drop), result.index(free[0]))
                result.insert(first, notes[id(free[0])])
    return result


def ask_about_column_renames(upgrade_ops: ops.UpgradeOps, dialect) -> None:
    """Ask about every probable column rename of the upgrade."""
    for table_ops in list(upgrade_ops.ops):
        if isinstance(table_ops, ops.ModifyTableOps):
            table_ops.ops[:] = renamed(table_ops, dialect)
            index = upgrade_ops.ops.index(table_ops)
            upgrade_ops.ops[index : index + 1] = keys_around_renames(table_ops)


# A renamed column's keys and indexes carry its name (the naming convention's):
# autogenerate drops them by the old name and creates them by the new one.
DROPS = (ops.DropConstraintOp, ops.DropIndexOp)
CREATES = (ops.AddConstraintOp, ops.CreateIndexOp)


def keys_around_renames(table_ops: ops.ModifyTableOps) -> list:
    """A table's ops with renames in three steps: the keys and indexes dropped,
    then the columns changed, then the keys and indexes created. In one batch,
    SQLite's table copy lost the unique constraint of a renamed column, and the
    downgrade could find none to drop; the downgrade, derived by reversing this,
    runs the same three steps the other way."""
    if not any(isinstance(op, RenameColumnOp) for op in table_ops.ops):
        return [table_ops]
    steps = [
        [op for op in table_ops.ops if isinstance(op, DROPS)],
        [op for op in table_ops.ops if not isinstance(op, (*DROPS, *CREATES))],
        [op for op in table_ops.ops if isinstance(op, CREATES)],
    ]
    return [
        ops.ModifyTableOps(table_ops.table_name, step, schema=table_ops.schema)
        for step in steps
        if step
    ]


def notes_first(downgrade_ops: ops.DowngradeOps) -> None:
    """Each comment moved above the ops it is about: a downgrade, derived by
    reversing the upgrade, has it below them."""
    operations = downgrade_ops.ops
    for table_ops in operations:
        if isinstance(table_ops, ops.ModifyTableOps):
            table_ops.ops.sort(key=lambda op: not isinstance(op, NoteOp))
    for note in [op for op in operations if isinstance(op, NoteOp)]:
        operations.remove(note)
        first = next(
            index
            for index, op in enumerate(operations)
            if isinstance(op, (ops.CreateTableOp, ops.DropTableOp))
            and op.table_name in note.tables
        )  # a note about tables stands above the drop and the create of both
        operations.insert(first, note)
