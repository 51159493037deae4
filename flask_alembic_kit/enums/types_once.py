"""PostgreSQL enum types created once and dropped with the last column that uses
them, whatever the revision file says.

A type may be shared by several tables, and a file generated on SQLite or MariaDB
cannot name the types of the columns it drops (they reflect no enum type). So
Alembic's PostgreSQL implementation is replaced by ``EnumTypesOnce`` (importing this
module registers it for the dialect; batch mode runs through it too):

- ``create_table`` and ``op.create_enum_type`` skip a type that exists with the same
  values, and fail in one line when it exists with other values;
- ``drop_table`` and ``drop_column`` then drop the enum types (of plain and array
  columns) that nothing uses any more; ``op.drop_enum_type`` skips a type in use.

With ``--sql`` there is no database to ask: the script asks it, each ``CREATE
TYPE`` in a block that skips a type that exists and each ``DROP TYPE`` in one that
skips a type in use, so that the script runs on a database in any state. Before a
``DROP TABLE`` or ``DROP COLUMN`` the script notes, in a temporary table, the enum
types the dropped table or column uses (a file generated on SQLite cannot name
them); after it, it drops those of them that nothing uses any more, as the online
run does, and no other.
"""

import logging

import sqlalchemy as sa
from alembic.ddl.postgresql import PostgresqlImpl
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql.named_types import CreateEnumType, DropEnumType

from flask_alembic_kit.errors import MigrationFailed
from flask_alembic_kit.sqltext import literal

log = logging.getLogger("alembic.env")

# The key under which SQLAlchemy notes, in Alembic's DDL runner, the PostgreSQL
# named types one run has created: a type noted there is not created again.
CREATED = f"pg_{postgresql.ENUM.__visit_name__}"

# Whether an enum type (or an array of it) is used by a column, a domain or a
# function: a normal dependency on it in pg_depend. ``{name}``: a string literal.
IN_USE = (
    "EXISTS (SELECT FROM pg_depend d JOIN pg_type t"
    " ON d.refobjid IN (t.oid, t.typarray) AND d.refclassid = 'pg_type'::regclass"
    " WHERE t.oid = to_regtype(quote_ident({name})) AND d.deptype = 'n')"
)


# The temporary table in which a script notes the enum types a drop may free.
CANDIDATES = "alembic_enum_types_freed"

# The enum types (or arrays of them) of a table's columns, ``{table}`` and
# ``{column}`` string literals (``{column}`` NULL for every column).
TYPES_OF = (
    "SELECT t.typname FROM pg_attribute a JOIN pg_type t"
    " ON a.atttypid IN (t.oid, t.typarray)"
    " WHERE a.attrelid = to_regclass(quote_ident({table})) AND a.attnum > 0"
    " AND NOT a.attisdropped AND t.typtype = 'e'"
    " AND ({column} IS NULL OR a.attname = {column})"
)


def named_enums(columns) -> dict[str, list[str]]:
    """The named native enum types among ``columns`` (plain or in an ARRAY):
    name -> values."""
    found = {}
    for column in columns:
        type_ = getattr(column, "type", None)
        type_ = getattr(type_, "item_type", type_)  # an ARRAY of an enum
        if isinstance(type_, sa.Enum) and type_.name and type_.native_enum:
            found.setdefault(type_.name, list(type_.enums))
    return found


class EnumTypesOnce(PostgresqlImpl):
    """Alembic's PostgreSQL implementation, with each enum type created once and
    dropped with the last column that uses it (see the module's docstring)."""

    __dialect__ = "postgresql"

    def created(self) -> set:
        """The ``(schema, name)`` of the enum types this run created or found; a
        type noted here is not created again (SQLAlchemy's memo of named types)."""
        return self.memo.setdefault(CREATED, set())

    def existing_types(self) -> dict[str, list[str]]:
        """The enum types of the connection's schema: name -> values."""
        enums = sa.inspect(self.connection).get_enums()
        return {enum["name"]: list(enum["labels"]) for enum in enums}

    def used_types(self, table_name: str, column_name: str | None = None) -> list:
        """The enum types the table's columns (or one of them) use; none for a
        table that does not exist (``drop_table(..., if_exists=True)``)."""
        try:
            columns = sa.inspect(self.connection).get_columns(table_name)
        except sa.exc.NoSuchTableError:
            return []
        chosen = [c for c in columns if column_name in (None, c["name"])]
        return list(named_enums(sa.Column(c["name"], c["type"]) for c in chosen))

    def checked(self, wanted: dict[str, list[str]]) -> set[str]:
        """Those of the ``wanted`` types that exist, each with the same values; a
        type with other values is an error rather than a silent reuse."""
        existing = self.existing_types()
        for name, values in wanted.items():
            if name in existing and existing[name] != list(values):
                raise MigrationFailed(
                    f"the enum type {name} exists with the values {existing[name]}, "
                    f"not {list(values)}: another table uses it, or an earlier "
                    "run left it behind; give the Enum another name, or change "
                    "the type with op.alter_enum_values"
                )
        return set(wanted) & set(existing)

    def create_enum_type(self, name: str, values: list[str]) -> None:
        """``CREATE TYPE ... AS ENUM``, unless this run created it or it exists."""
        if (None, name) in self.created():
            return
        self.created().add((None, name))
        create = CreateEnumType(postgresql.ENUM(*values, name=name))
        if self.as_sql:
            sql = str(create.compile(dialect=self.dialect))
            self.static_output(
                f"DO $$ BEGIN {sql}; "
                "EXCEPTION WHEN duplicate_object THEN NULL; END $$"
                f"{self.command_terminator}"
            )
        elif self.checked({name: values}):
            log.info("Enum type %s exists: not created again", name)
        else:
            self.execute(create)

    def drop_enum_types(self, names) -> None:
        """``DROP TYPE`` for each of ``names`` that exists and nothing uses."""
        existing = set() if self.as_sql else set(self.existing_types())
        for name in sorted(set(names)):
            self.created().discard((None, name))
            drop = DropEnumType(postgresql.ENUM(name=name))
            if self.as_sql:
                sql = str(drop.compile(dialect=self.dialect))
                self.static_output(
                    f"DO $$ BEGIN IF to_regtype(quote_ident({literal(name)})) IS NOT "
                    f"NULL AND NOT {IN_USE.format(name=literal(name))} THEN {sql}; "
                    f"END IF; END $${self.command_terminator}"
                )
                continue
            if name not in existing:
                continue
            in_use = sa.text("SELECT " + IN_USE.format(name=":name"))
            if self.connection.execute(in_use, {"name": name}).scalar():
                log.info("Enum type %s is still in use: kept", name)
                continue
            self.execute(drop)

    def create_table(self, table, **kw) -> None:
        """Alembic's ``create_table``: the enum types it needs, created once (in a
        guarded block with ``--sql``), then the table."""
        wanted = named_enums(table.columns) if table.schema is None else {}
        if wanted and self.as_sql:
            for name, values in wanted.items():
                self.create_enum_type(name, values)
        elif wanted:
            found = self.checked(wanted)
            self.created().update((None, name) for name in found)
        super().create_table(table, **kw)

    def drop_table(self, table, **kw) -> None:
        """Alembic's ``drop_table``, then the enum types no other table uses."""
        if table.schema is not None:
            return super().drop_table(table, **kw)
        types = (
            self.note_types(table.name) if self.as_sql else self.used_types(table.name)
        )
        super().drop_table(table, **kw)
        self.drop_unused(types)

    def drop_column(self, table_name, column, *, schema=None, **kw) -> None:
        """Alembic's ``drop_column``, then the column's enum type if no other
        column uses it."""
        if schema is not None:
            return super().drop_column(table_name, column, schema=schema, **kw)
        types = (
            self.note_types(table_name, column.name)
            if self.as_sql
            else self.used_types(table_name, column.name)
        )
        super().drop_column(table_name, column, schema=schema, **kw)
        self.drop_unused(types)

    def note_types(self, table_name: str, column_name: str | None = None) -> list:
        """With ``--sql``: have the script note the enum types the table (or its
        column) uses, before it drops them; ``drop_unused`` reads the note."""
        column = "NULL" if column_name is None else literal(column_name)
        self.static_output(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {CANDIDATES} (name name)"
            f"{self.command_terminator}"
        )
        types = TYPES_OF.format(table=literal(table_name), column=column)
        self.static_output(f"INSERT INTO {CANDIDATES} {types}{self.command_terminator}")
        return []

    def drop_unused(self, types: list[str]) -> None:
        """After a drop: the enum types it used that nothing uses any more. With
        ``--sql`` those the script noted before the drop (``note_types``)."""
        if not self.as_sql:
            self.drop_enum_types(types)
            return
        self.static_output(
            "DO $$ DECLARE e record; BEGIN FOR e IN SELECT DISTINCT c.name "
            f"FROM {CANDIDATES} c WHERE NOT {IN_USE.format(name='c.name')} LOOP "
            "EXECUTE format('DROP TYPE %I', e.name); END LOOP; "
            f"DELETE FROM {CANDIDATES}; END $${self.command_terminator}"
        )
