"""Filling a new column of a big table from a revision, without blocking writers.

A revision that adds a column and fills it in one UPDATE holds the locks of every row
it touches until it commits: on a table of a million rows, writers to it wait for
tens of seconds. ``fill_column`` is the data step of the expand / backfill / contract
pattern (docs/production.md, "Backfilling a big table"), called from a revision's
``upgrade()``:

```python
from flask_alembic_kit.backfill import fill_column

def upgrade() -> None:
    fill_column(users, "display_name", users.c.username)
```

How it runs depends on the database and the mode:

- PostgreSQL and MariaDB/MySQL, online: keyset-paginated UPDATEs in primary-key
  order, each committed on its own (``autocommit_block``), each batch sized to take
  about 100 ms, so a writer waits for one batch at most. Only rows whose column IS
  NULL are written: a run that was killed or failed is run again, and continues.
- SQLite: one set-based UPDATE. SQLite locks the whole file for any write and syncs
  it on each commit, and env.py runs the whole migration in one transaction there,
  which ``autocommit_block`` would end.
- Offline (``alembic upgrade --sql``) and on a connection handed in inside the
  caller's transaction: one set-based UPDATE, in the script or in that transaction.

This module imports neither Flask nor the rest of the app: revision files use it.
"""

import logging
import time
from typing import Any

import sqlalchemy as sa
from alembic import op
from alembic.runtime.migration import MigrationContext
from alembic.util import CommandError

from flask_alembic_kit.internals import in_external_transaction

__all__ = ["fill_column"]

# Under Alembic's logger, so that alembic.ini's INFO level shows the progress.
log = logging.getLogger("alembic.backfill")

# Batch sizes in rows, and the time a batch aims at (bench/README.md, "The data step":
# a fixed count is too small where commits are dear and too large where updates are).
FIRST_BATCH = 10_000
MIN_BATCH = 1_000
MAX_BATCH = 200_000
BATCH_SECONDS = 0.1


def fill_column(
    table: sa.Table,
    column: str,
    value: Any,
    *,
    first_batch: int = FIRST_BATCH,
    min_batch: int = MIN_BATCH,
    max_batch: int = MAX_BATCH,
    batch_seconds: float = BATCH_SECONDS,
    where: sa.ColumnElement[bool] | None = None,
) -> int:
    """Set ``table.c[column]`` to ``value`` where it IS NULL (or where ``where``
    holds), from a revision's ``upgrade()``; return the number of rows written (0
    when rendering ``--sql``). ``where`` must no longer hold for a row once it is
    filled, so that a rerun picks up where a run stopped: e.g.
    ``users.c.full_name.is_distinct_from(users.c.display_name)``.

    ``table`` is the table as the revision sees it, written out in the revision (not
    today's model), with a single integer primary key; ``value`` is an SQL
    expression over its row (``table.c.username``) or a constant. On PostgreSQL and
    MariaDB/MySQL everything the revision did before this call is committed first,
    and a failure leaves the batches done so far committed: give the call a revision
    of its own, so that running ``alembic upgrade`` again finishes the job.

    The batches start at ``first_batch`` rows; each next one is sized so that its
    statements take about ``batch_seconds``, between ``min_batch`` and ``max_batch``
    rows (tests set all three equal for batches of a fixed size). Progress is
    logged to ``alembic.backfill``: where a run starts, and the rows and batches.
    """
    key, target = primary_key_of(table), column_of(table, column)
    sizes = BatchSizes(first_batch, min_batch, max_batch, batch_seconds)
    to_fill = target.is_(None) if where is None else where
    fill = table.update().where(to_fill).values({target: value})
    context = op.get_context()
    if not batches_possible(context):
        if context.as_sql:
            op.execute(fill)
            return 0
        return op.get_bind().execute(fill).rowcount
    with context.autocommit_block():
        return fill_in_batches(op.get_bind(), key, target, fill, sizes, to_fill)


def primary_key_of(table: sa.Table) -> sa.Column:
    """The table's primary key column, which must be one integer column."""
    columns = list(table.primary_key.columns)
    if len(columns) != 1 or not isinstance(columns[0].type, sa.Integer):
        shown = ", ".join(f"{c.name} {c.type}" for c in columns) or "none"
        raise CommandError(
            f"fill_column pages through {table.name} by its primary key, which must "
            f"be a single integer column (it is: {shown}); fill this table with one "
            "set-based UPDATE instead (op.execute(table.update()...))"
        )
    return columns[0]


def column_of(table: sa.Table, column: str) -> sa.Column:
    """The column to fill, named in the table as the revision declares it."""
    if column not in table.c:
        raise CommandError(
            f"fill_column: {table.name} as declared in the revision has no column "
            f"{column!r}; add it to the revision's sa.Table"
        )
    return table.c[column]


def batches_possible(context: MigrationContext) -> bool:
    """Whether batches can commit on their own: online, on a server, and not inside
    a transaction the caller handed in (``autocommit_block`` would commit it)."""
    return (
        not context.as_sql
        and context.dialect.name in ("postgresql", "mysql", "mariadb")
        and not in_external_transaction(context)
    )


class BatchSizes:
    """The size of each next batch, aiming at a batch's time."""

    def __init__(self, first: int, smallest: int, largest: int, seconds: float):
        """Batches start at ``first`` rows and stay between ``smallest`` and
        ``largest``; each aims at ``seconds``."""
        if not 0 < smallest <= first <= largest or seconds <= 0:
            raise CommandError(
                "fill_column needs 0 < min_batch <= first_batch <= max_batch and "
                "batch_seconds > 0"
            )
        self.first, self.smallest, self.largest = first, smallest, largest
        self.seconds = seconds

    def after(self, size: int, seconds: float) -> int:
        """The next batch's size, from the last one's size and the seconds its
        statements took; it grows or shrinks at most twofold from one batch to the
        next, so that one slow batch (a checkpoint, a busy disk) does not cut the
        next ones to the minimum, each paying its own commit."""
        scale = min(2.0, max(0.5, self.seconds / max(seconds, 0.001)))
        return min(self.largest, max(self.smallest, int(size * scale)))


def fill_in_batches(
    connection: sa.Connection,
    key: sa.Column,
    target: sa.Column,
    fill: sa.Update,
    sizes: BatchSizes,
    to_fill: sa.ColumnElement[bool],
) -> int:
    """Run ``fill`` in key ranges of about ``sizes`` rows, in key order, each
    statement committing on its own (the connection is in autocommit mode).

    Each batch reads the key ``size`` rows on, then updates up to it; the last
    batch has no upper bound, so rows added meanwhile are filled too. A rerun starts
    at the first row still to fill (``to_fill``: NULL, unless the caller says).
    """
    table = key.table
    first_null = connection.execute(
        sa.select(key).where(to_fill).order_by(key).limit(1)
    ).scalar()
    if first_null is None:
        log.info("%s.%s: no row to fill", table.name, target.name)
        return 0
    log.info(
        "%s.%s: filling from %s = %s", table.name, target.name, key.name, first_null
    )
    after = key >= first_null
    size, written, batches = sizes.first, 0, 0
    while True:
        started = time.perf_counter()
        bound = connection.execute(
            sa.select(key).where(after).order_by(key).offset(size - 1).limit(1)
        ).scalar()
        batch = fill.where(after) if bound is None else fill.where(after, key <= bound)
        written += connection.execute(batch).rowcount
        batches += 1
        if bound is None:
            break
        after, size = key > bound, sizes.after(size, time.perf_counter() - started)
    log.info(
        "%s.%s: filled %d rows in %d batches", table.name, target.name, written, batches
    )
    return written
