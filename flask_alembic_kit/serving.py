"""Which releases may serve a database: a small table next to each history's
version table (``alembic_version_serving``; a bind's ``alembic_version_audit_serving``)
that lists the code heads still able to serve on the revisions applied, each
with the database's revision(s) it was written for.

A release does not have the revision files of the releases after it, so it cannot
tell by itself whether a database ahead of its head is one it can serve. Each
migration writes it down instead, in the transaction of each revision: the
database's head, and every revision applied at or after each applied revision that
is not expand (``phases.py``; on a linear history, down to the newest contract
one). Code whose head is listed serves; the guard (``state.py``) reads the table
only when the database is at a revision its code does not know, and believes only
rows written for the revision the database is at (a stamp, or an older release's
downgrade, leaves the table behind).
"""

import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.schema import CreateTable

from flask_alembic_kit.phases import EXPAND, MERGE, declared_phase


def serving_table_name(version_table: str) -> str:
    """The table that goes with a version table. Its name starts with the version
    table's: MariaDB's journal and kept-DDL watchers (``journal.py``,
    ``kept_ddl.py``) leave statements naming it alone, as the version table's."""
    return f"{version_table}_serving"


def serving_table(version_table: str) -> sa.Table:
    """The table: one code head per row, and the database's revision(s) when it
    was written (``database_at``, sorted ids joined by commas)."""
    return sa.Table(
        serving_table_name(version_table),
        sa.MetaData(),
        sa.Column("code_head", sa.String(32), primary_key=True),
        sa.Column("database_at", sa.String(255), nullable=False),
    )


def kit_tables(version_table: str) -> set[str]:
    """The tables of a history that are not the models': Alembic's version table
    and its serving table. Autogenerate, the snapshots and the trace leave them
    out."""
    return {version_table, serving_table_name(version_table)}


def heads_text(heads) -> str:
    """Revision ids as ``database_at`` keeps them."""
    return ",".join(sorted(heads))


def serving_heads(script: ScriptDirectory, heads: tuple[str, ...]) -> list[str]:
    """The code heads that can serve a database at ``heads``: each revision R
    applied whose code finds everything it maps, because every revision applied
    that R's code does not have is expand. Equivalently: R is at or after every
    revision applied that is not expand (on every branch, merges included)."""
    parents = applied_parents(script, heads)
    not_expand = [
        each
        for each in parents
        if declared_phase(script.get_revision(each).module) not in (EXPAND, MERGE)
    ]
    serving = set(parents)
    for revision in newest(not_expand, parents):
        serving &= descendants_of(revision, parents)
    return sorted(serving)


def applied_parents(
    script: ScriptDirectory, heads: tuple[str, ...]
) -> dict[str, tuple[str, ...]]:
    """Every revision applied to a database at ``heads`` (they and all below),
    with its parents."""
    parents: dict[str, tuple[str, ...]] = {}
    todo = list(heads)
    while todo:
        revision = todo.pop()
        if revision not in parents:
            parents[revision] = parent_ids(script, script.get_revision(revision))
            todo += parents[revision]
    return parents


def newest(revisions: list[str], parents: dict[str, tuple[str, ...]]) -> set[str]:
    """Those of ``revisions`` below none of the others: the rest are below them,
    so what serves after these serves after those."""
    below = set()
    for revision in revisions:
        todo = list(parents[revision])
        while todo:
            each = todo.pop()
            if each not in below:
                below.add(each)
                todo += parents[each]
    return set(revisions) - below


def descendants_of(revision: str, parents: dict[str, tuple[str, ...]]) -> set[str]:
    """The revision and every revision in ``parents`` above it."""
    children: dict[str, list[str]] = {}
    for child, its_parents in parents.items():
        for parent in its_parents:
            children.setdefault(parent, []).append(child)
    found, todo = set(), [revision]
    while todo:
        each = todo.pop()
        if each not in found:
            found.add(each)
            todo += children.get(each, [])
    return found


def parent_ids(script: ScriptDirectory, revision) -> tuple[str, ...]:
    """A revision's parents and the revisions it depends on, by id."""
    parents = revision.down_revision or ()
    parents = (parents,) if isinstance(parents, str) else tuple(parents)
    depends = (
        script.get_revisions(revision.dependencies) if revision.dependencies else ()
    )
    return parents + tuple(each.revision for each in depends if each)


# Rows per INSERT: two parameters each, well under SQLite's oldest limit (999).
ROWS_PER_INSERT = 200


class ServingRecord:
    """Alembic's ``on_version_apply`` hook that rewrites the table after each
    revision, in its transaction (rendered into the script under ``--sql``).

    The table is created the first time it is needed (``IF NOT EXISTS``, which
    SQLite, PostgreSQL and MariaDB accept, also in a ``--sql`` script).
    """

    def __init__(self, script: ScriptDirectory, version_table: str) -> None:
        """For the history of ``script``, whose version table is ``version_table``."""
        self.script = script
        self.table = serving_table(version_table)
        self.created = False

    def __call__(self, *, ctx: MigrationContext, heads, **kwargs) -> None:
        """Write the code heads that serve the database at its new ``heads``."""
        if not self.created:
            if ctx.as_sql or not sa.inspect(ctx.connection).has_table(self.table.name):
                ctx.execute(CreateTable(self.table, if_not_exists=True))
            self.created = True
        ctx.execute(self.table.delete())
        serving = serving_heads(self.script, tuple(sorted(heads)))
        rows = [
            {"code_head": each, "database_at": heads_text(heads)} for each in serving
        ]
        # A long history of expand revisions lists many: a few rows per statement.
        for start in range(0, len(rows), ROWS_PER_INSERT):
            chunk = rows[start : start + ROWS_PER_INSERT]
            ctx.execute(self.table.insert().values(chunk))


def read_serving_heads(
    connection: sa.Connection, version_table: str, database: tuple[str, ...]
) -> set[str]:
    """The code heads the table lists for a database at ``database``; empty when
    there is no table (a database migrated before the kit kept one) or it was
    written for another revision."""
    table = serving_table(version_table)
    if not sa.inspect(connection).has_table(table.name):
        return set()
    query = sa.select(table.c.code_head).where(
        table.c.database_at == heads_text(database)
    )
    return set(connection.scalars(query))
