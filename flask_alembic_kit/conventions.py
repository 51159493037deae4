"""The conventions the kit's migrations rely on, for a project's ``db`` to adopt
before its first revision (README, "Adopting the kit"):

- ``NAMING_CONVENTION``, for ``sa.MetaData(naming_convention=...)``: every
  constraint and index gets a name a later revision can drop again;
- ``sqlite_on_connect``, for ``sa.event.listen(sa.Engine, "connect", ...)``:
  SQLite enforces foreign keys, and a new database file is its owner's alone.
"""

import hashlib
import os
import sqlite3

import sqlalchemy as sa

# Every constraint gets a deterministic name, so autogenerate renders names that a
# later revision can drop again (SQLite included, where unnamed constraints cannot
# be dropped at all). See Alembic's "The Importance of Naming Constraints".
# Every column of a key is in its name (``column_0_N_name``): with only the first,
# UniqueConstraint("a", "b") and UniqueConstraint("a", "c") would share one name,
# which PostgreSQL and MariaDB refuse. A one-column name is the same either way.
# Names longer than a database allows are cut with a hash by SQLAlchemy.


def constraint_name_or_digest(constraint: sa.CheckConstraint, table) -> str:
    """The ``ck`` key's own part of a CHECK constraint's name: the name the model
    gave it, or, for one given none (``Column(..., sa.CheckConstraint("x > 0"))``,
    which a plain ``%(constraint_name)s`` refuses), a short digest of its
    expression. Its key holds "constraint_name": SQLAlchemy applies a convention
    to a constraint named in the model only when that text is in it (pinned by
    tests/test_real_schemas.py), so a named one is ``ck_<table>_<name>`` still."""
    if isinstance(constraint.name, str):
        return constraint.name
    expression = str(constraint.sqltext).encode()
    return hashlib.sha256(expression).hexdigest()[:8]


NAMING_CONVENTION = {
    "constraint_name_or_digest": constraint_name_or_digest,
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name_or_digest)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def sqlite_on_connect(dbapi_connection, connection_record) -> None:
    """Turn on foreign key enforcement, which SQLite leaves off by default, and keep
    a new database file private."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.execute("PRAGMA foreign_keys = ON")
        keep_new_sqlite_file_private(dbapi_connection)


def keep_new_sqlite_file_private(dbapi_connection: sqlite3.Connection) -> None:
    """Make a database file SQLite has just created (still empty) readable by its
    owner only: it will hold the users' data. Its journal files inherit the mode."""
    path = dbapi_connection.execute("PRAGMA database_list").fetchone()[2]
    if path and os.path.getsize(path) == 0:
        os.chmod(path, 0o600)
