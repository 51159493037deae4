"""The large-table data step: filling a new ``users`` column from ``username`` on
100k and 1M rows, each strategy in a process of its own (so its peak memory is its):

- ``single``: one set-based UPDATE in one transaction (the floor, and the pattern of
  the history's ``display_name`` revision);
- ``batched`` and ``time-boxed``: ours, the project's
  ``flask_alembic_kit.backfill.fill_column`` run in an Alembic migration context as a
  revision runs it: on PostgreSQL and MariaDB keyset-paginated UPDATEs in
  primary-key order, one transaction each, so a concurrent writer waits for one
  batch at most, of 10,000 rows (``batched``) or sized to take about 100 ms each
  (``time-boxed``); on SQLite one set-based UPDATE;
- ``orm``: a row-by-row ORM loop (load every user, set the attribute, commit).

Timed runs are alone on the database. Separate runs add a writer thread that
updates a random user every 10 ms on its own connection; the worst latency of its
updates is the stall reported. One step by hand:
``BENCH_DATABASE_URL=... python -m bench.datastep batched COLUMN ROWS [--writer]``.
"""

import json
import math
import os
import random
import resource
import statistics
import sys
import threading
import time
from pathlib import Path

import sqlalchemy as sa
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy import orm

from bench.databases import as_environment, fresh_database
from bench.projects import copy_project, real_history
from bench.report import Row, checked
from bench.timing import Command, run
from flask_alembic_kit.backfill import FIRST_BATCH, fill_column
from tools.databases import run_as_admin

BATCH_ROWS = FIRST_BATCH
WRITER_INTERVAL = 0.010
# The ORM loop is measured on the smaller row count; it is also run on the larger
# one only if that is projected to take at most this long, else extrapolated.
ORM_TIME_BOX = 60.0


def users_table(column: str) -> sa.Table:
    """The columns of ``users`` the data step reads and writes."""
    return sa.Table(
        "users",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.String(80)),
        sa.Column("email", sa.String(120)),
        sa.Column(column, sa.String(80)),
    )


def engine_for(url: str | sa.URL, **options) -> sa.Engine:
    """An engine; SQLite waits for locks instead of failing after 5 s."""
    url = sa.make_url(url)
    if url.get_backend_name() == "sqlite":
        options["connect_args"] = {"timeout": 120}
    return sa.create_engine(url, **options)


def fill_single(engine: sa.Engine, users: sa.Table, column: str) -> None:
    """One UPDATE of every row, in one transaction."""
    target = users.c[column]
    with engine.begin() as connection:
        connection.execute(
            users.update().where(target.is_(None)).values({column: users.c.username})
        )


def fill_with_helper(engine: sa.Engine, users: sa.Table, column: str, **sizes) -> None:
    """The project's ``flask_alembic_kit.backfill.fill_column``, in an Alembic migration
    context on one connection, as a revision's ``upgrade()`` runs it: keyset
    batches, each committed on its own, on PostgreSQL and MariaDB; one UPDATE on
    SQLite."""
    with engine.connect() as connection:
        with Operations.context(MigrationContext.configure(connection)):
            fill_column(users, column, users.c.username, **sizes)
        connection.commit()  # SQLite's one UPDATE; the servers' batches committed


def fill_batched(engine: sa.Engine, users: sa.Table, column: str) -> None:
    """Batches of ``BATCH_ROWS`` rows: ``fill_column`` with its sizes held fixed."""
    fill_with_helper(
        engine,
        users,
        column,
        first_batch=BATCH_ROWS,
        min_batch=BATCH_ROWS,
        max_batch=BATCH_ROWS,
    )


def fill_time_boxed(engine: sa.Engine, users: sa.Table, column: str) -> None:
    """Batches sized so that each takes about 100 ms: ``fill_column`` as it is."""
    fill_with_helper(engine, users, column)


def fill_orm(engine: sa.Engine, users: sa.Table, column: str) -> None:
    """The loop an ORM user writes first: every user loaded, changed, flushed."""

    class User:
        """A user, mapped onto the table as the data step sees it."""

    orm.registry().map_imperatively(User, users)
    with orm.Session(engine) as session:
        for user in session.scalars(sa.select(User)):
            setattr(user, column, user.username)
        session.commit()


STRATEGIES = {
    "single": fill_single,
    "batched": fill_batched,
    "time-boxed": fill_time_boxed,
    "orm": fill_orm,
}


class Writer(threading.Thread):
    """Updates a random user every 10 ms and keeps its worst latency."""

    def __init__(self, url: str, rows: int) -> None:
        """Prepare the writer; ``start()`` runs it until ``stop()``."""
        super().__init__(daemon=True)
        self.engine = engine_for(url, isolation_level="AUTOCOMMIT")
        self.rows = rows
        self.stopping = threading.Event()
        self.latencies: list[float] = []

    def run(self) -> None:
        """Write until stopped, one short transaction at a time."""
        statement = sa.text("UPDATE users SET email = email WHERE id = :id")
        with self.engine.connect() as connection:
            while not self.stopping.is_set():
                started = time.perf_counter()
                connection.execute(statement, {"id": random.randint(1, self.rows)})
                latency = time.perf_counter() - started
                self.latencies.append(latency)
                time.sleep(max(0.0, WRITER_INTERVAL - latency))

    def stop(self) -> None:
        """Stop writing and close the engine."""
        self.stopping.set()
        self.join()
        self.engine.dispose()


def peak_rss_mb() -> float:
    """The peak resident memory of this process so far, in MB (Linux: KB units)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_one(strategy: str, column: str, rows: int, with_writer: bool) -> dict:
    """Run one strategy in this process and return its figures."""
    url = os.environ["BENCH_DATABASE_URL"]
    engine = engine_for(url)
    users = users_table(column)
    with engine.connect() as connection:  # connect before timing, as a migration has
        connection.execute(sa.select(sa.func.count()).select_from(users)).scalar()
    writer = Writer(url, rows) if with_writer else None
    if writer:
        writer.start()
        time.sleep(0.1)
    before = peak_rss_mb()
    started = time.perf_counter()
    STRATEGIES[strategy](engine, users, column)
    seconds = time.perf_counter() - started
    if writer:
        writer.stop()
    with engine.connect() as connection:
        missing = connection.execute(
            sa.select(sa.func.count()).where(users.c[column].is_(None))
        ).scalar()
    engine.dispose()
    if missing:
        raise SystemExit(f"{strategy} left {missing} rows unfilled")
    return {
        "seconds": seconds,
        "rss_before_mb": before,
        "rss_peak_mb": peak_rss_mb(),
        "writes": len(writer.latencies) if writer else 0,
        "worst_stall_ms": max(writer.latencies) * 1000 if writer else None,
    }


def digits(count: int) -> sa.Select:
    """The integers 0 .. 10**count - 1 as a cross join of ten-row selects."""
    ten = sa.union_all(*[sa.select(sa.literal(d).label("d")) for d in range(10)])
    tables = [ten.subquery(f"d{i}") for i in range(count)]
    number = sum(table.c.d * 10**i for i, table in enumerate(tables))
    joined = tables[0]
    for table in tables[1:]:
        joined = joined.join(table, sa.true())
    return sa.select(number.label("n")).select_from(joined)


def load_users(engine: sa.Engine, first: int, last: int) -> None:
    """Insert users ``first`` .. ``last`` with one INSERT ... SELECT."""
    users = users_table("unused")
    numbers = digits(math.ceil(math.log10(last - first + 1))).subquery()
    n = (numbers.c.n + first).label("id")
    text = sa.cast(n, sa.String(20))
    rows = sa.select(n, "user" + text, "user" + text + "@example.com").where(
        numbers.c.n <= last - first
    )
    with engine.begin() as connection:
        connection.execute(
            users.insert().from_select(["id", "username", "email"], rows)
        )


class DataStep:
    """A database holding ``users`` at the revision before ``display_name``, and the
    worker processes that fill a fresh column of it."""

    def __init__(self, backend: str, url: sa.URL, workdir: Path) -> None:
        """Migrate the database to the revision the data step builds on."""
        self.backend, self.url, self.workdir = backend, url, workdir
        # The row generator cross-joins digit tables on purpose.
        self.engine = engine_for(url, enable_from_linting=False)
        self.rows = 0
        self.columns = 0
        project = copy_project(workdir / "project")
        before_display_name = real_history()[2]
        run(
            Command(
                [sys.executable, "-m", "alembic", "upgrade", before_display_name],
                project,
                {"DATABASE_URL": as_environment(url)},
            )
        )

    def grow_to(self, rows: int) -> None:
        """Add users until there are ``rows`` of them."""
        load_users(self.engine, self.rows + 1, rows)
        self.rows = rows
        self.vacuum()

    def vacuum(self) -> None:
        """Reclaim dead rows and refresh statistics, where the database wants it."""
        if self.backend == "postgresql":
            run_as_admin(self.url, "VACUUM ANALYZE users")
        elif self.backend == "mysql":
            run_as_admin(self.url, "ANALYZE TABLE users")

    def measure(self, strategy: str, with_writer: bool = False) -> dict:
        """Add a nullable column, fill it in a worker process, then drop it."""
        self.columns += 1
        column = f"display_name_{self.columns}"
        run_as_admin(self.url, f"ALTER TABLE users ADD COLUMN {column} VARCHAR(80)")
        try:
            argv = [
                sys.executable,
                "-m",
                "bench.datastep",
                strategy,
                column,
                str(self.rows),
            ]
            if with_writer:
                argv.append("--writer")
            result = run(
                Command(
                    argv,
                    Path(__file__).resolve().parent.parent,
                    {"BENCH_DATABASE_URL": as_environment(self.url)},
                    timeout=900,
                )
            )
        finally:
            drop = f"ALTER TABLE users DROP COLUMN {column}"
            if self.backend == "mysql":
                # MariaDB drops a column instantly but keeps its values in the rows
                # until the table is rebuilt: without the rebuild every later run
                # would fill ever wider rows, and the last strategy of a round pay most.
                drop += ", ALGORITHM=COPY"
            run_as_admin(self.url, drop)
            self.vacuum()
        return json.loads(result.stdout)

    def close(self) -> None:
        """Dispose of the engine."""
        self.engine.dispose()


def median_of(results: list[dict], key: str) -> float:
    """The median of one figure over several runs."""
    return statistics.median(result[key] for result in results)


BATCHED = {
    "batched": "keyset batches of 10k rows",
    "time-boxed": "keyset batches sized to ~100 ms",
}


def data_step(
    backend: str, workdir: Path, row_counts: list[int], rounds: int
) -> list[Row]:
    """Measure the strategies at each row count and build the table's rows.

    No warm-up run: ``VACUUM ANALYZE`` / ``ANALYZE TABLE`` after loading the rows
    has just read the whole table.
    """
    small, large = min(row_counts), max(row_counts)
    with fresh_database(backend, workdir) as url:
        step = DataStep(backend, url, workdir)
        try:
            step.grow_to(small)
            at_small = {name: step.measure(name) for name in [*BATCHED, "orm"]}
            step.grow_to(large)
            at_large = {name: [] for name in ["single", *BATCHED]}
            for _ in range(rounds):
                for name, runs in at_large.items():
                    runs.append(step.measure(name))
            # The writer's own commits slow the batched steps down, so its stalls
            # are measured in runs of their own, not in the timed ones.
            stalls = {
                name: step.measure(name, with_writer=True)["worst_stall_ms"]
                for name in at_large
            }
            projected = at_small["orm"]["seconds"] * large / small
            extrapolated = projected > ORM_TIME_BOX
            orm = projected if extrapolated else step.measure("orm")["seconds"]
        finally:
            step.close()
    note = f"extrapolated from {small:,} rows" if extrapolated else ""
    return data_rows(backend, small, large, at_small, at_large, stalls, orm, note)


def data_rows(
    backend, small, large, at_small, at_large, stalls, orm, orm_note
) -> list[Row]:
    """The table's rows for the data step on one database."""
    section = f"data step, {large:,} users"
    floor = "one set-based UPDATE (floor)"
    single = at_large["single"]
    single_s = median_of(single, "seconds")
    orm_limit = {"sqlite": 30.0, "postgresql": 5.0}.get(backend)
    # fill_column itself chooses one UPDATE on SQLite: say so beside its figures.
    helper_note = (
        "fill_column: one set-based UPDATE on SQLite" if backend == "sqlite" else ""
    )
    rows = []
    for name, label in BATCHED.items():
        runs = at_large[name]
        ratio = statistics.median(
            b["seconds"] / s["seconds"] for s, b in zip(single, runs, strict=True)
        )
        rows.append(
            Row(
                section,
                backend,
                label,
                median_of(runs, "seconds"),
                floor,
                single_s,
                ratio,
                *checked(ratio, 1.3),
                note=helper_note,
            )
        )
    for name, label in [*BATCHED.items(), ("single", "one set-based UPDATE")]:
        seconds = median_of(at_large[name], "seconds")
        speedup = orm / seconds
        target, met = ("", None)
        if orm_limit and name != "single":
            target, met = f">= {orm_limit:g}x faster", speedup >= orm_limit
        rows.append(
            Row(
                section,
                backend,
                f"ORM row-by-row loop vs {label}",
                orm,
                label,
                seconds,
                speedup,
                target,
                met,
                note=orm_note,
            )
        )
    for name, label in BATCHED.items():
        stall = stalls[name]
        met = stall <= 250 if backend == "postgresql" else None
        rows.append(
            Row(
                section,
                backend,
                f"worst stall of a writer every 10 ms, {label}",
                stall,
                "one UPDATE",
                stalls["single"],
                None,
                "<= 250 ms",
                met,
                unit="ms",
            )
        )
    for name, label in BATCHED.items():
        peak = median_of(at_large[name], "rss_peak_mb")
        rows.append(
            Row(
                section,
                backend,
                f"peak RSS, {label}, {large:,} rows",
                peak,
                f"{small:,} rows",
                at_small[name]["rss_peak_mb"],
                peak / at_small[name]["rss_peak_mb"],
                unit="MB",
                note=f"ORM loop at {small:,} rows: "
                f"{at_small['orm']['rss_peak_mb']:.0f} MB",
            )
        )
    return rows


def main(argv: list[str]) -> int:
    """Worker entry point: ``STRATEGY COLUMN ROWS [--writer]``; prints JSON."""
    strategy, column, rows = argv[0], argv[1], int(argv[2])
    print(json.dumps(run_one(strategy, column, rows, "--writer" in argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
