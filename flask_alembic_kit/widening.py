"""Whether a column's new type holds every value of its old one, read the same way
by the release that is running: the deploy phase of a type change (``phases.py``).

Only the changes known to keep every value are widenings: a longer string or
text, a wider integer of the same signedness, a decimal with as many integer
digits and as many decimals, an Enum with more values, a longer binary. Anything
else (another type, a parameter changed, a type this module does not know) is
not: the running release may read or write what the new type refuses.
"""

import math

import sqlalchemy as sa

# MariaDB/MySQL's text types by what they hold, in bytes; a ``Text()`` without a
# length is ``TEXT`` there (SQLite's and PostgreSQL's hold more), and so is a
# ``String()`` without one, to be safe.
TEXT_CAPACITY = {
    "TINYTEXT": 255,
    "TEXT": 65_535,
    "MEDIUMTEXT": 16_777_215,
    "LONGTEXT": 4_294_967_295,
}
UNBOUNDED_TEXT = TEXT_CAPACITY["TEXT"]

# Integer types from narrow to wide (SQLAlchemy's visit names: generic and each
# dialect's spelling).
INTEGER_WIDTH = {
    "tinyint": 1,
    "small_integer": 2,
    "smallint": 2,
    "mediumint": 3,
    "integer": 4,
    "int": 4,
    "big_integer": 8,
    "bigint": 8,
}

BINARY_TYPES = (sa.LargeBinary, sa.BINARY, sa.VARBINARY)


def widens(old, new) -> bool:
    """Whether ``new`` holds every value of ``old`` as the running release reads
    it. An unknown old type is not assumed narrower or wider: not a widening."""
    if old is None or new is None:
        return False
    if isinstance(old, sa.Enum) or isinstance(new, sa.Enum):
        both = isinstance(old, sa.Enum) and isinstance(new, sa.Enum)
        return both and set(old.enums) <= set(new.enums)
    if isinstance(old, sa.String) and isinstance(new, sa.String):
        return text_capacity(old) <= text_capacity(new)
    if isinstance(old, BINARY_TYPES) and isinstance(new, BINARY_TYPES):
        return (old.length or math.inf) <= (new.length or math.inf)
    if isinstance(old, sa.Integer) and isinstance(new, sa.Integer):
        return integer_widens(old, new)
    if isinstance(old, sa.Float) or isinstance(new, sa.Float):
        return type(old) is type(new) and (new.precision or math.inf) >= (
            old.precision or math.inf
        )
    if isinstance(old, sa.Numeric) and isinstance(new, sa.Numeric):
        return numeric_widens(old, new)
    return type(old) is type(new) and repr(old) == repr(new)


def text_capacity(kind: sa.String) -> int:
    """What a string or text type holds, by its length or its MariaDB text size."""
    if kind.length:
        return kind.length
    return TEXT_CAPACITY.get(kind.__visit_name__.upper(), UNBOUNDED_TEXT)


def integer_widens(old: sa.Integer, new: sa.Integer) -> bool:
    """A wider or equal integer; an unsigned one (MariaDB) only into a wider
    signed one, a signed one never into an unsigned one."""
    old_width = INTEGER_WIDTH.get(old.__visit_name__.lower())
    new_width = INTEGER_WIDTH.get(new.__visit_name__.lower())
    if old_width is None or new_width is None:
        return False
    old_unsigned = bool(getattr(old, "unsigned", False))
    new_unsigned = bool(getattr(new, "unsigned", False))
    if old_unsigned == new_unsigned:
        return new_width >= old_width
    return old_unsigned and new_width > old_width


def numeric_widens(old: sa.Numeric, new: sa.Numeric) -> bool:
    """As many digits before the point, and as many after; no precision is any."""

    def integer_digits(kind: sa.Numeric) -> float:
        """Digits before the decimal point."""
        if kind.precision is None:
            return math.inf
        return kind.precision - (kind.scale or 0)

    return integer_digits(new) >= integer_digits(old) and (new.scale or 0) >= (
        old.scale or 0
    )
