"""Two constraints or indexes given one name, refused before autogenerate writes
a revision that no server would run (PostgreSQL ``relation "uq_t_a" already
exists``, MariaDB error 1061) and that SQLite would run by keeping only one.

Within a table every name must differ; across the tables of a schema, the names of
indexes, unique constraints and primary keys too (PostgreSQL keeps them with the
tables, in one namespace).
"""

import sqlalchemy as sa
from alembic.util import CommandError

# The kinds PostgreSQL names as relations, schema-wide.
RELATIONS = (sa.Index, sa.UniqueConstraint, sa.PrimaryKeyConstraint)


def described(item) -> str:
    """A constraint or an index as a model writes it: ``UniqueConstraint(a, b)``."""
    columns = ", ".join(getattr(column, "name", str(column)) for column in item.columns)
    return f"{type(item).__name__}({columns}) of {item.table.name}"


def refuse_shared_names(metadata: sa.MetaData) -> None:
    """Raise, in one line naming both, when two constraints or indexes of the
    models end up with the same name."""
    schema_wide: dict[tuple, object] = {}
    for table in sorted(metadata.tables.values(), key=lambda table: table.key):
        in_table: dict[str, object] = {}
        # table.constraints is a set: sorted, so that the message is the same on
        # every run (the columns tell two of one kind and name apart).
        items = sorted(
            [*table.constraints, *table.indexes],
            key=lambda item: (type(item).__name__, str(item.name), described(item)),
        )
        for item in items:
            if not isinstance(item.name, str):  # unnamed: the database names it
                continue
            seen = in_table.setdefault(item.name, item)
            if seen is item and isinstance(item, RELATIONS):
                seen = schema_wide.setdefault((table.schema, item.name), item)
            if seen is not item:
                raise CommandError(
                    f"{described(seen)} and {described(item)} are both named "
                    f"{item.name}: give one of them a name of its own (name=...)"
                )
