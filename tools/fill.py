"""Rows for the trace: every table filled with generated rows before a revision
runs, so that what a statement does to a populated table shows (a rewrite, a scan
under a lock).

Values come from the reflected column types: numbers, strings, dates and times from
the row's number (distinct where the type has room, so unique constraints hold;
within the type's range and precision), the values of an Enum and booleans in turn,
foreign keys pointing at the referenced column's rows (parents are filled first).
A table whose rows the database refuses (a CHECK constraint the values break, a
NOT NULL reference to its own table) is left empty, and the report says why.
"""

import uuid
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import sqlalchemy as sa

from flask_alembic_kit.defaults import is_boolean
from flask_alembic_kit.serving import kit_tables

BATCH = 1000
START = datetime(2026, 1, 1)


# The largest value of the integer types a column may reflect as.
INTEGER_LIMITS = {"TINYINT": 127, "SMALLINT": 32_767, "MEDIUMINT": 8_388_607}


def integer_limit(type_) -> int:
    """The largest value the integer column takes."""
    if isinstance(type_, sa.SmallInteger):
        return INTEGER_LIMITS["SMALLINT"]
    return INTEGER_LIMITS.get(type(type_).__name__.upper(), 2_147_483_647)


def decimal_limit(type_) -> int:
    """The largest whole part a Numeric(precision, scale) column holds."""
    precision = getattr(type_, "precision", None)
    scale = getattr(type_, "scale", None) or 0
    return 10 ** (precision - scale) - 1 if precision else 1_000_000


def python_type_of(type_) -> type | None:
    """The Python type a column type holds, if SQLAlchemy knows it."""
    try:
        return type_.python_type
    except NotImplementedError:
        return None


def value_for(column: sa.Column, number: int, parents: dict):
    """A value of the column's type for row ``number`` (from 0): distinct per row
    where the type has room, within the type's range."""
    for foreign_key in column.foreign_keys:
        referred = foreign_key.column
        values = parents.get((referred.table.name, referred.name))
        return values[number % len(values)] if values else None
    type_ = column.type
    if isinstance(type_, sa.Enum) and type_.enums:
        return type_.enums[number % len(type_.enums)]
    if is_boolean(type_):
        return number % 2 == 0
    python_type = python_type_of(type_)
    if python_type is int:
        return number % integer_limit(type_) + 1
    if python_type in (float, Decimal):
        return python_type(number % max(decimal_limit(type_), 1))
    if python_type is datetime:
        return START + timedelta(seconds=number)
    if python_type is date:
        return START.date() + timedelta(days=number % 2_900_000)
    if python_type is time:
        return time(number // 3600 % 24, number // 60 % 60, number % 60)
    if python_type is bytes:
        return number.to_bytes(8, "big")
    if python_type is uuid.UUID:
        return uuid.UUID(int=number + 1)
    if python_type is dict:
        return {"n": number}
    if python_type is str:
        length = getattr(type_, "length", None)
        if length is None:  # a text, valid JSON too (MariaDB keeps JSON as text)
            return f'{{"n": {number}}}'
        return f"{column.name[:3]}{number:x}"[-length:]
    return None


def fill_tables(
    connection: sa.Connection, rows: int, version_table: str = "alembic_version"
) -> dict[str, str]:
    """Fill every table of the database but the history's version table (parents
    first) with ``rows`` rows; what was done, per table."""
    metadata = sa.MetaData()
    metadata.reflect(connection)
    referred = {
        (key.column.table.name, key.column.name)
        for table in metadata.tables.values()
        for key in table.foreign_keys
    }
    parents: dict[tuple[str, str], list] = {}
    done = {}
    for table in metadata.sorted_tables:
        if table.name in kit_tables(version_table):
            continue
        generated = [c for c in table.columns if c is not table.autoincrement_column]
        try:
            with connection.begin_nested():
                for start in range(0, rows, BATCH):
                    batch = [
                        {c.name: value_for(c, n, parents) for c in generated}
                        for n in range(start, min(start + BATCH, rows))
                    ]
                    connection.execute(table.insert(), batch)
        except sa.exc.DBAPIError as error:
            reason = str(error.orig).strip().splitlines()[0]
            done[table.name] = f"left empty: the database refused the rows ({reason})"
            continue
        done[table.name] = f"{rows} rows"
        for table_name, column_name in referred:
            if table_name == table.name:
                query = sa.select(table.c[column_name]).limit(rows)
                values = list(connection.execute(query).scalars())
                parents[table_name, column_name] = values
    return done
