"""Deploy phases: every revision is ``expand`` or ``contract`` (docs/deploys.md).

- **expand**: the release that is running keeps working once it is applied. It
  adds: a table, a nullable column, a column with a server default, an index, a
  constraint, an Enum value. It runs before the new release starts
  (``alembic -x phase=expand upgrade head``).
- **contract**: the running release would break. It drops or renames a table or a
  column, makes a column NOT NULL, adds a NOT NULL column without a server default,
  narrows or changes a type, drops a server default or an Enum value. It runs once
  every instance runs the new release (``alembic upgrade head``), and the new
  release serves before it: what it no longer maps is still there.
- **mixed**: both at once (a NOT NULL column added in one step, a column added
  and another dropped, a rename): neither release can serve on the other side of
  it. A finding of ``migration-review``; split it into an expand and a contract
  revision.
- **merge**: ``alembic merge``'s revision, which changes nothing: the expand
  phase applies it once what it joins is applied, and a release serves whether it
  is applied or not.

A revision file says its phase in a module variable, ``phase``, which
``alembic revision --autogenerate`` writes from its operations (with the reasons
as a comment). A revision written by hand starts as ``mixed`` until its author
says which it is. A developer who knows better than the rules changes the phase
and says why in ``phase_reason``; ``migration-review`` shows the reason. A file
without ``phase`` (written before the kit marked them) is taken as ``mixed``: the
guard wants the database exactly at the code's head around it, and the expand
phase stops before it.
"""

import re
from dataclasses import dataclass, field

import sqlalchemy as sa
from alembic.operations import ops

from flask_alembic_kit.enums.values import AlterEnumValuesOp
from flask_alembic_kit.widening import widens

EXPAND = "expand"
CONTRACT = "contract"
MIXED = "mixed"
MERGE = "merge"  # ``alembic merge``: no operation, it goes with what it joins
PHASES = (EXPAND, CONTRACT, MIXED, MERGE)


@dataclass
class Classification:
    """What a revision's operations do to the release that is running (``breaks``)
    and what they add that the new release needs (``adds``)."""

    breaks: list[str] = field(default_factory=list)
    adds: list[str] = field(default_factory=list)

    @property
    def phase(self) -> str:
        """contract when something breaks, mixed when it also adds what the new
        release maps, else expand."""
        if not self.breaks:
            return EXPAND
        return MIXED if self.adds else CONTRACT


def classify(operations) -> Classification:
    """The phase of a list of Alembic operations (an upgrade's), with its reasons.
    Constraints on the tables and columns the same operations create restrict
    nothing the running release writes."""
    operations = list(flattened(operations))
    created = Created.by(operations)
    found = Classification()
    for operation in operations:
        found.breaks += breaks(operation, created)
        found.adds += adds(operation)
    return found


def flattened(operations):
    """Every operation, a table's own (``ModifyTableOps``) included."""
    for operation in operations:
        if isinstance(operation, ops.OpContainer):
            yield from flattened(operation.ops)
        else:
            yield operation


@dataclass
class Created:
    """The tables and columns a revision's operations create."""

    tables: set[str] = field(default_factory=set)
    columns: set[tuple[str, str]] = field(default_factory=set)

    @classmethod
    def by(cls, operations) -> "Created":
        """What ``operations`` create."""
        created = cls()
        for operation in operations:
            if isinstance(operation, ops.CreateTableOp):
                created.tables.add(operation.table_name)
            elif isinstance(operation, ops.AddColumnOp):
                column = (operation.table_name, operation.column.name)
                created.columns.add(column)
        return created

    def holds(self, table: str, columns) -> bool:
        """Whether the table is new, or each of the columns is."""
        columns = list(columns)
        return (
            table in self.tables
            or bool(columns)
            and all((table, column) in self.columns for column in columns)
        )

    def named_in(self, table: str, text: str) -> bool:
        """Whether a condition's text names a column created on the table."""
        return table in self.tables or any(
            name == table and re.search(rf"\b{re.escape(column)}\b", text)
            for name, column in self.columns
        )


def breaks(operation, created: Created | None = None) -> list[str]:
    """Why the release that is running breaks once ``operation`` is applied."""
    created = created or Created()
    if isinstance(operation, ops.DropTableOp):
        return [f"drops table {operation.table_name}"]
    if isinstance(operation, ops.RenameTableOp):
        return [f"renames table {operation.table_name} to {operation.new_table_name}"]
    if isinstance(operation, ops.DropColumnOp):
        return [f"drops column {operation.table_name}.{operation.column_name}"]
    if isinstance(operation, ops.AddColumnOp):
        column = operation.column
        if not column.nullable and column.server_default is None:
            return [
                f"adds {operation.table_name}.{column.name} NOT NULL without a "
                "server default (the running release's inserts leave it out)"
            ]
        return []
    if isinstance(operation, ops.AlterColumnOp):
        return altered(operation)
    if isinstance(operation, AlterEnumValuesOp):
        return enum_values_taken(operation)
    return constrained(operation, created)


def altered(operation: ops.AlterColumnOp) -> list[str]:
    """What an ``alter_column`` takes away from the running release."""
    where = f"{operation.table_name}.{operation.column_name}"
    found = []
    if operation.modify_name:
        found.append(f"renames column {where} to {operation.modify_name}")
    if operation.modify_nullable is False and operation.existing_nullable is not False:
        found.append(f"makes {where} NOT NULL")
    if operation.modify_type is not None and not widens(
        operation.existing_type, operation.modify_type
    ):
        found.append(f"changes the type of {where} to {type_text(operation)}")
    # None drops the default (False, Alembic's own default, leaves it). The
    # running release's inserts may leave the column to it, unless it is nullable.
    if (
        operation.modify_server_default is None
        and operation.existing_nullable is not True
    ):
        found.append(f"drops the server default of {where}")
    return found


def enum_values_taken(operation: AlterEnumValuesOp) -> list[str]:
    """The Enum values the running release may write that a change takes away."""
    where = f"{operation.table_name}.{operation.column_name}"
    if operation.existing is None:
        return [f"changes the values of Enum {where} (its former values unknown)"]
    return [
        *(f"drops Enum value {v!r} of {where}" for v in operation.dropped()),
        *(
            f"renames Enum value {old!r} of {where} to {new!r}"
            for old, new in operation.renamed.items()
        ),
    ]


def constrained(operation, created: Created) -> list[str]:
    """A unique, foreign-key or CHECK constraint (or unique index) on what the
    running release already writes: rows it writes may be refused."""
    if isinstance(operation, ops.CreateUniqueConstraintOp):
        table, columns, what = operation.table_name, operation.columns, "a unique"
    elif isinstance(operation, ops.CreateIndexOp) and operation.unique:
        table, what = operation.table_name, "a unique index"
        columns = [c for c in operation.columns if isinstance(c, str)] or ["?"]
    elif isinstance(operation, ops.CreateForeignKeyOp):
        table, columns = operation.source_table, operation.local_cols
        what = "a foreign key"
    elif isinstance(operation, ops.CreateCheckConstraintOp):
        table, text = operation.table_name, str(operation.condition)
        if created.named_in(table, text):
            return []
        return [
            f"adds CHECK ({text}) on {table}: rows the running release writes may "
            "be refused"
        ]
    else:
        return []
    if created.holds(table, columns):
        return []
    named = ", ".join(str(column) for column in columns)
    constraint = what if what.endswith("index") else f"{what} constraint"
    return [
        f"adds {constraint} on {table} ({named}): rows the running release writes "
        "may be refused"
    ]


def type_text(operation: ops.AlterColumnOp) -> str:
    """The new type, as its class name says it (``String(40)``)."""
    new = operation.modify_type
    length = getattr(new, "length", None)
    return f"{type(new).__name__}({length})" if length else type(new).__name__


def adds(operation) -> list[str]:
    """What ``operation`` gives that the new release may need before it serves: a
    table, a column, a name, a wider type, a nullable column, an Enum value, a
    server default; or a NOT NULL column without a default gone, which the new
    release's inserts leave out."""
    if isinstance(operation, ops.CreateTableOp):
        return [f"creates table {operation.table_name}"]
    if isinstance(operation, ops.RenameTableOp):
        return [f"the new name {operation.new_table_name}"]
    if isinstance(operation, ops.AddColumnOp):
        return [f"adds column {operation.table_name}.{operation.column.name}"]
    if isinstance(operation, ops.DropColumnOp):
        return dropped_not_null(operation)
    if isinstance(operation, ops.AlterColumnOp):
        return loosened(operation)
    if isinstance(operation, AlterEnumValuesOp):
        where = f"{operation.table_name}.{operation.column_name}"
        values = operation.added() + list(operation.renamed.values())
        return [f"Enum value {value!r} of {where}" for value in values]
    return []


def dropped_not_null(operation: ops.DropColumnOp) -> list[str]:
    """A dropped column that is NOT NULL without a server default, as autogenerate
    reflected it: while it is there, the new release, which no longer writes it,
    cannot insert a row."""
    column = operation.to_column()
    if isinstance(column.type, sa.types.NullType):  # written by hand: not known
        return []
    if column.nullable or column.server_default is not None:
        return []
    return [
        f"{operation.table_name}.{operation.column_name} gone: it is NOT NULL "
        "without a server default, so the release that no longer writes it cannot "
        "insert rows until it is dropped (make it nullable in an expand revision "
        "first)"
    ]


def loosened(operation: ops.AlterColumnOp) -> list[str]:
    """What an ``alter_column`` gives the new release: a name, NULL, a wider
    type, a server default."""
    where = f"{operation.table_name}.{operation.column_name}"
    found = []
    if operation.modify_name:
        found.append(f"the new name {operation.table_name}.{operation.modify_name}")
    if operation.modify_nullable is True and operation.existing_nullable is not True:
        found.append(f"{where} nullable")
    if operation.modify_type is not None and widens(
        operation.existing_type, operation.modify_type
    ):
        found.append(f"{where} as {type_text(operation)}")
    if operation.modify_server_default not in (False, None):
        found.append(f"the server default of {where}")
    return found


def declared_phase(module) -> str:
    """The phase a revision file declares (``phase = "contract"``); a file that
    declares none, or something else, is ``mixed``: nothing is assumed of it."""
    phase = getattr(module, "phase", None)
    return phase if phase in PHASES else MIXED
