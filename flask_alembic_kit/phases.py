"""Deploy phases: every revision is ``expand`` or ``contract`` (README, "Deploys
without downtime").

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
  and another dropped): neither release can serve on the other side of it. A
  finding of ``migration-review``; split it into an expand and a contract revision.

A revision file says its phase in a module variable, ``phase``, which
``alembic revision --autogenerate`` writes from its operations (with the reasons
as a comment). A developer who knows better changes it and says why in
``phase_reason``; ``migration-review`` shows the reason. A file without ``phase``
(written before the kit marked them) is taken as ``mixed``: the guard wants the
database exactly at the code's head around it, and the expand phase stops before it.
"""

import textwrap
from dataclasses import dataclass, field

import sqlalchemy as sa
from alembic.operations import ops

from flask_alembic_kit.enums.values import AlterEnumValuesOp

EXPAND = "expand"
CONTRACT = "contract"
MIXED = "mixed"
PHASES = (EXPAND, CONTRACT, MIXED)

# What ``-x phase=...`` accepts: the expand phase, or everything (the default).
PHASE_ARGUMENTS = ("expand", "all")


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
    """The phase of a list of Alembic operations (an upgrade's), with its reasons."""
    found = Classification()
    for operation in flattened(operations):
        found.breaks += breaks(operation)
        found.adds += adds(operation)
    return found


def flattened(operations):
    """Every operation, a table's own (``ModifyTableOps``) included."""
    for operation in operations:
        if isinstance(operation, ops.OpContainer):
            yield from flattened(operation.ops)
        else:
            yield operation


def breaks(operation) -> list[str]:
    """Why the release that is running breaks once ``operation`` is applied."""
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
        where = f"{operation.table_name}.{operation.column_name}"
        return [
            *(f"drops Enum value {v!r} of {where}" for v in operation.dropped()),
            *(
                f"renames Enum value {old!r} of {where} to {new!r}"
                for old, new in operation.renamed.items()
            ),
        ]
    return []


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
    # None drops the default (False, Alembic's own default, leaves it).
    if operation.modify_server_default is None and operation.existing_nullable is False:
        found.append(f"drops the server default of NOT NULL {where}")
    return found


def type_text(operation: ops.AlterColumnOp) -> str:
    """The new type, as its class name says it (``String(40)``)."""
    new = operation.modify_type
    length = getattr(new, "length", None)
    return f"{type(new).__name__}({length})" if length else type(new).__name__


# Integer types from narrow to wide: a change up this list keeps every value.
INTEGER_WIDTHS = (sa.SmallInteger, sa.Integer, sa.BigInteger)


def integer_width(kind) -> int:
    """The place of an integer type in ``INTEGER_WIDTHS`` (its most derived)."""
    return max(i for i, each in enumerate(INTEGER_WIDTHS) if isinstance(kind, each))


def widens(old, new) -> bool:
    """Whether ``new`` holds every value of ``old`` the way the running release
    reads it: a longer string or text, a wider integer or decimal, an Enum with
    more values, the same type. An unknown old type is not assumed wider."""
    if old is None:
        return False
    if isinstance(old, sa.Enum) or isinstance(new, sa.Enum):
        both = isinstance(old, sa.Enum) and isinstance(new, sa.Enum)
        return both and set(old.enums) <= set(new.enums)
    if isinstance(old, sa.String) and isinstance(new, sa.String):
        if new.length is None:  # text, or a string of any length
            return True
        return old.length is not None and old.length <= new.length
    if isinstance(old, sa.Integer) and isinstance(new, sa.Integer):
        return integer_width(new) >= integer_width(old)
    if isinstance(old, sa.Numeric) and isinstance(new, sa.Numeric):
        return (new.precision or 0) >= (old.precision or 0) and (new.scale or 0) >= (
            old.scale or 0
        )
    return type(old) is type(new)


def adds(operation) -> list[str]:
    """What ``operation`` adds that the new release maps: a table, a column."""
    if isinstance(operation, ops.CreateTableOp):
        return [f"creates table {operation.table_name}"]
    if isinstance(operation, ops.AddColumnOp):
        return [f"adds column {operation.table_name}.{operation.column.name}"]
    return []


# What each phase means for the deploy, at the top of the comment
# ``alembic revision --autogenerate`` writes above ``phase``.
MEANINGS = {
    EXPAND: (
        "Deploy phase: expand. The running release keeps working once it is "
        "applied: it runs before the new release starts "
        "(alembic -x phase=expand upgrade head)."
    ),
    CONTRACT: (
        "Deploy phase: contract. The running release breaks once it is applied: "
        "it runs once every instance runs this release (alembic upgrade head)."
    ),
    MIXED: (
        "Deploy phase: mixed. The running release breaks once it is applied, and "
        "this release needs what it adds: no release serves across it. Split it "
        "into an expand revision and a contract one (README, Deploys without "
        "downtime)."
    ),
}

# Above ``phase`` in a revision written by hand (``alembic revision -m``), whose
# operations are not known yet: migration-review checks the phase against them.
BY_HAND = (
    'Deploy phase: "expand" when the running release keeps working once it is '
    'applied, "contract" when it drops, renames or tightens what the running '
    "release uses (README, Deploys without downtime). migration-review checks it."
)


def phase_comment(found: Classification | None) -> str:
    """The comment above a revision's ``phase``: what the phase means, and the
    operations that made it so."""
    if found is None:
        return comment_lines(BY_HAND, [])
    reasons = found.breaks + (found.adds if found.phase == MIXED else [])
    return comment_lines(MEANINGS[found.phase], reasons)


def comment_lines(text: str, reasons: list[str]) -> str:
    """``text`` as wrapped comment lines, then one ``- reason`` line each."""
    lines = textwrap.wrap(text, 86)
    for reason in reasons:
        lines += textwrap.wrap(reason, 86, initial_indent="- ", subsequent_indent="  ")
    return "\n".join(f"# {line}" for line in lines)


def declared_phase(module) -> str:
    """The phase a revision file declares (``phase = "contract"``); a file that
    declares none, or something else, is ``mixed``: nothing is assumed of it."""
    phase = getattr(module, "phase", None)
    return phase if phase in PHASES else MIXED
