"""Rows for the trace: every table filled with generated rows before a revision
runs, so that what a statement does to a populated table shows (a rewrite, a scan
under a lock).

Values come from the reflected column types: numbers and strings from the row's
number (distinct, so unique constraints hold), dates counted from a fixed day, the
first values of an Enum in turn, foreign keys pointing at the parent's rows (parents
are filled first). A table whose rows the database refuses (a CHECK constraint the
values break) is left empty, and the report says so.
"""

import uuid
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import sqlalchemy as sa

BATCH = 1000
START = datetime(2026, 1, 1)


def value_for(column: sa.Column, number: int, parents: dict):
    """A value of the column's type for row ``number`` (from 0)."""
    for foreign_key in column.foreign_keys:
        keys = parents.get(foreign_key.column.table.name)
        if keys:
            return keys[number % len(keys)]
        return None
    type_ = column.type
    if isinstance(type_, sa.Enum) and type_.enums:
        return type_.enums[number % len(type_.enums)]
    python_type = python_type_of(type_)
    if python_type is bool:
        return number % 2 == 0
    if python_type is int:
        return number + 1
    if python_type in (float, Decimal):
        return python_type(number % 1000) / 4
    if python_type is datetime:
        return START + timedelta(seconds=number)
    if python_type is date:
        return START.date() + timedelta(days=number % 3650)
    if python_type is time:
        return time(number % 24, number % 60)
    if python_type is bytes:
        return number.to_bytes(4, "big")
    if python_type is uuid.UUID:
        return uuid.UUID(int=number + 1)
    if python_type is dict:
        return {"n": number}
    if python_type is str:
        length = getattr(type_, "length", None) or 40
        text = f"{column.name[:3]}{number:x}"
        return text[-length:]
    return None


def python_type_of(type_) -> type | None:
    """The Python type a column type holds, if SQLAlchemy knows it."""
    try:
        return type_.python_type
    except NotImplementedError:
        return None


def fill_tables(connection: sa.Connection, rows: int) -> dict[str, str]:
    """Fill every table of the database (parents first) with ``rows`` rows; what
    was done, per table."""
    metadata = sa.MetaData()
    metadata.reflect(connection)
    parents: dict[str, list] = {}
    done = {}
    for table in metadata.sorted_tables:
        if table.name == "alembic_version":
            continue
        generated = [
            column
            for column in table.columns
            if not (column.primary_key and column.autoincrement in (True, "auto"))
            or len(table.primary_key.columns) > 1
        ]
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
        key = list(table.primary_key.columns)
        if len(key) == 1:
            parents[table.name] = list(
                connection.execute(sa.select(key[0]).limit(rows)).scalars()
            )
    return done
