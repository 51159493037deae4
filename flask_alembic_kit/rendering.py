"""Revision files that run on every database, whichever one they were generated on.

Alembic's ``render_item`` hook: server defaults are written as the SQLAlchemy
expressions every dialect compiles for itself (``sa.true()``, ``sa.func.now()``,
``'draft'``), and the types reflection spells in one dialect's words
(``mysql.TINYINT(display_width=1)``, ``postgresql.TIMESTAMP(timezone=True)``) as the
generic types a model writes. A model's own ``sa.text(...)`` default and its own
dialect types (``postgresql.JSONB``) are kept as written.
"""

import sqlalchemy as sa
from sqlalchemy.sql.elements import TextClause

from flask_alembic_kit import defaults

# Reflected dialect types, by class name, and the generic type they stand for.
TEXT_TYPES = {"TEXT", "TINYTEXT", "MEDIUMTEXT", "LONGTEXT"}
BINARY_TYPES = {"BYTEA", "BLOB", "TINYBLOB", "MEDIUMBLOB", "LONGBLOB"}
# Upper-case SQL types that exist generically: rendered with their standard
# arguments only (a MySQL display width or collation is dropped).
STANDARD_TYPES = {
    "INTEGER": (),
    "BIGINT": (),
    "SMALLINT": (),
    "VARCHAR": ("length",),
    "CHAR": ("length",),
    "NUMERIC": ("precision", "scale"),
    "DECIMAL": ("precision", "scale"),
    "DATE": (),
    "TIME": (),
    "REAL": (),
}


def from_model(default, autogen_context) -> bool:
    """Whether a server default belongs to a model's column (not a reflected one)."""
    column = getattr(default, "column", None)
    table = getattr(column, "table", None)
    return table is not None and table.metadata is autogen_context.metadata


# SQL types SQLAlchemy has generically, that not every database knows: SQLite
# reflects a LargeBinary as BLOB, which PostgreSQL does not have.
NOT_PORTABLE = {"BLOB": sa.LargeBinary, "CLOB": sa.Text, "DATETIME": sa.DateTime}


def generic_type(type_: sa.types.TypeEngine) -> sa.types.TypeEngine | None:
    """The generic type a reflected dialect type stands for, or ``None``."""
    name = type(type_).__name__
    if not type(type_).__module__.startswith("sqlalchemy.dialects."):
        if name == "DATETIME" and getattr(type_, "timezone", False):
            return None  # a model's sa.DATETIME(timezone=True): as written
        return NOT_PORTABLE[name]() if name in NOT_PORTABLE else None
    if name == "TINYINT" and getattr(type_, "display_width", None) == 1:
        return sa.Boolean()
    if name in TEXT_TYPES:
        return sa.Text()
    if name in BINARY_TYPES:
        return sa.LargeBinary()
    precise = getattr(type_, "fsp", None) or getattr(type_, "precision", None)
    if name in ("DATETIME", "TIMESTAMP") and not precise:
        return sa.DateTime(timezone=bool(getattr(type_, "timezone", False)))
    if name in ("DOUBLE_PRECISION", "DOUBLE"):
        return sa.Double()
    if name == "UUID":
        return sa.Uuid()
    if name == "JSON":
        return sa.JSON()
    if name == "ENUM" and type_.enums and getattr(type_, "create_type", True):
        return sa.Enum(*type_.enums, name=type_.name, create_constraint=True)
    if name in STANDARD_TYPES:
        arguments = {key: getattr(type_, key, None) for key in STANDARD_TYPES[name]}
        return getattr(sa, name)(**{k: v for k, v in arguments.items() if v})
    return None


def render_item(type_: str, item, autogen_context):
    """Alembic's ``render_item`` hook: portable source for server defaults and
    reflected types; ``False`` leaves everything else to Alembic."""
    prefix = autogen_context.opts.get("sqlalchemy_module_prefix") or "sa."
    if type_ == "server_default":
        if from_model(item, autogen_context) and isinstance(item.arg, TextClause):
            return False  # the model wrote sa.text(...): keep it
        column_type = getattr(getattr(item, "column", None), "type", None)
        rendered = defaults.render(item, column_type, prefix)
        return rendered if rendered is not None else False
    if type_ == "type":
        generic = generic_type(item) or checked_enum(item)
        return f"{prefix}{generic!r}" if generic is not None else False
    return False


def checked_enum(type_: sa.types.TypeEngine) -> sa.Enum | None:
    """A model's named ``sa.Enum`` as the file writes it: with
    ``create_constraint=True``, so that SQLite, which has no enum type, refuses
    other values by a CHECK as PostgreSQL's and MariaDB's ENUM do (they create no
    CHECK for it). ``None`` for any other type, or one that says so already."""
    if type(type_) is not sa.Enum or not type_.name or not type_.native_enum:
        return None
    if type_.create_constraint:
        return None
    checked = type_.copy()
    checked.create_constraint = True
    return checked
