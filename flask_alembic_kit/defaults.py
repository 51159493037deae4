"""Server defaults by meaning, not by spelling.

A model says ``server_default=sa.true()`` or ``sa.func.now()``; each database
compiles and reflects it its own way: SQLite ``1`` and ``(CURRENT_TIMESTAMP)``,
PostgreSQL ``true`` and ``now()``, MariaDB ``1`` and ``current_timestamp()``, and a
string default as ``'draft'``, ``'draft'::tag_status`` or ``'draft'``. Autogenerate
must neither write one database's spelling into a revision that runs on the others,
nor report a difference between two spellings of the same default.

``meaning`` reduces both sides to one canonical form; ``render`` writes a default as
the SQLAlchemy expression that every dialect compiles for itself.
"""

import re
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.sql import functions

# Canonical forms.
TRUE, FALSE, NOW = "true", "false", "now()"

# What databases reflect for "now": PostgreSQL now() / CURRENT_TIMESTAMP, MariaDB
# current_timestamp() / current_timestamp(6), SQLite CURRENT_TIMESTAMP.
NOW_SPELLINGS = re.compile(
    r"(now|current_timestamp|transaction_timestamp)(\(\d*\))?", re.IGNORECASE
)
NOW_FUNCTIONS = {"now", "current_timestamp", "transaction_timestamp"}
NUMBER = re.compile(r"[-+]?\d+(\.\d*)?")
# A PostgreSQL cast, ``'draft'::tag_status`` or ``'x'::character varying``.
CAST = re.compile(r"::[\w\s\".]+(\[\])?$")


def is_boolean(type_: sa.types.TypeEngine | None) -> bool:
    """Whether a column type holds booleans; MariaDB reflects them as TINYINT(1)."""
    if isinstance(type_, sa.Boolean):
        return True
    return type(type_).__name__ == "TINYINT" and getattr(type_, "display_width", 0) == 1


def unquoted(text: str) -> str | None:
    """The value of a SQL string literal, or ``None`` when ``text`` is not one."""
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1].replace("''", "'")
    return None


def sql_value(text: str) -> tuple[str, bool]:
    """Reflected default text as ``(value, is_literal)``: parentheses and a
    PostgreSQL cast taken off, a string literal unquoted."""
    text = text.strip()
    while text.startswith("(") and text.endswith(")"):
        text = text[1:-1].strip()
    text = CAST.sub("", text).strip()
    value = unquoted(text)
    return (text, False) if value is None else (value, True)


def value_meaning(value: str, literal: bool, type_) -> str:
    """The canonical form of a default's value: ``now()``, ``true``/``false`` on a
    boolean column, a number on a numeric one, a quoted string, or other SQL in
    lower case (a function without arguments without its ``()``: databases reflect
    ``CURRENT_DATE`` for ``sa.func.current_date()``)."""
    if not literal and NOW_SPELLINGS.fullmatch(value):
        return NOW
    boolean = is_boolean(type_)
    if boolean and value.lower() in ("1", "true", "t", "b'1'"):
        return TRUE
    if boolean and value.lower() in ("0", "false", "f", "b'0'"):
        return FALSE
    if NUMBER.fullmatch(value) and not isinstance(type_, sa.String):
        # 0, '0' and MariaDB's 0.00 for Numeric(10, 2); not '007' of a string.
        return format(Decimal(value).normalize(), "f")
    return repr(value) if literal else value.lower().removesuffix("()")


def meaning(default, type_: sa.types.TypeEngine | None = None) -> str | None:
    """The canonical form of a server default: a ``DefaultClause`` (from a model or
    reflection) or its argument. ``None`` when there is none."""
    if isinstance(default, sa.schema.DefaultClause):
        default = default.arg
    if default is None:
        return None
    if isinstance(default, sa.sql.elements.True_):
        return TRUE
    if isinstance(default, sa.sql.elements.False_):
        return FALSE
    if isinstance(default, functions.FunctionElement) and not list(default.clauses):
        return NOW if default.name.lower() in NOW_FUNCTIONS else default.name.lower()
    if isinstance(default, str):  # a model's plain string: always a literal
        return value_meaning(default, True, type_)
    if isinstance(default, sa.sql.elements.TextClause):
        return value_meaning(*sql_value(default.text), type_)
    return None


def render(
    default, type_: sa.types.TypeEngine | None, prefix: str = "sa."
) -> str | None:
    """A server default as portable Python source (``sa.true()``,
    ``sa.func.now()``, ``'draft'``, ``'0'``), or ``None`` to leave it to Alembic.
    A PostgreSQL cast (``'0'::numeric``) is left out: the others refuse it."""
    canonical = meaning(default, type_)
    if canonical is None:
        return None
    if canonical == TRUE and is_boolean(type_):
        return f"{prefix}true()"
    if canonical == FALSE and is_boolean(type_):
        return f"{prefix}false()"
    if canonical == NOW:
        return f"{prefix}func.now()"
    if canonical[:1] in ("'", '"'):
        return canonical  # a string literal, as Python: a str default is a literal
    arg = default.arg if isinstance(default, sa.schema.DefaultClause) else default
    if isinstance(arg, sa.sql.elements.TextClause):
        value, _ = sql_value(arg.text)
        if NUMBER.fullmatch(value):
            return repr(value)  # a number, as the literal every database takes
    return None


def differ(reflected, model, type_) -> bool | None:
    """``compare_server_default``: whether a reflected default and a model's differ
    in meaning; ``None`` leaves a model's form it does not know to Alembic."""
    model_default = model.arg if isinstance(model, sa.schema.DefaultClause) else model
    reflected_meaning = meaning(reflected, type_)
    model_meaning = meaning(model, type_)
    if model_default is not None and model_meaning is None:
        return None  # e.g. sa.literal_column(...), sa.func.coalesce(...)
    if reflected_meaning == model_meaning:
        return False
    if reflected_meaning is None or model_meaning is None:
        # PostgreSQL may reflect "no default" as NULL (or NULL::type).
        other = model_meaning if reflected_meaning is None else reflected_meaning
        return other != "null"
    return True
