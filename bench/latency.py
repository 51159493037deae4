"""Command latency: a no-op ``alembic upgrade head`` and ``alembic check`` against
Flask-Migrate and the floors, with one database and with two, and how the no-op grows
with the length of the history.
"""

import sys
from contextlib import ExitStack
from pathlib import Path

import sqlalchemy as sa

from bench.databases import as_environment, fresh_database
from bench.projects import (
    BEFORE_BINDS,
    copy_project,
    flask_migrate_multidb_project,
    flask_migrate_project,
    project_at,
    project_with_history,
    real_history,
    single_database,
    squashed_project,
)
from bench.report import Row, checked
from bench.timing import Command, Rounds, rounds, run, timed
from flask_alembic_kit.serving import kit_tables

PYTHON = sys.executable
VERSION_TABLE = "alembic_version"

# The floor: a process that imports SQLAlchemy, connects and reads alembic_version.
SQLALCHEMY_FLOOR = (
    "import os, sqlalchemy as sa\n"
    "engine = sa.create_engine(os.environ['BENCH_DATABASE_URL'])\n"
    "with engine.connect() as connection:\n"
    "    connection.exec_driver_sql('SELECT version_num FROM alembic_version').all()\n"
    "engine.dispose()\n"
)


# The floor of any env.py that imports a Flask-SQLAlchemy app: ``alembic heads`` in a
# process that has imported Flask and Flask-SQLAlchemy (which imports SQLAlchemy's ORM)
# first. No app, no models, no connection.
FLASK_FLOOR = (
    "import flask, flask_sqlalchemy\nfrom alembic.config import main\nmain(['heads'])\n"
)


def alembic(
    project: Path, url, *args: str, audit=None, timeout: float = 120.0
) -> Command:
    """``alembic <args>`` run in a project copy on a database (and, given ``audit``,
    on that audit database too)."""
    return Command(
        [PYTHON, "-m", "alembic", *args],
        project,
        database_environment(url, audit),
        timeout,
    )


def flask_db(project: Path, url, *args: str, audit=None) -> Command:
    """``flask db <args>`` (Flask-Migrate) run in its project copy on a database
    (and, given ``audit``, on that audit database too)."""
    argv = [PYTHON, "-m", "flask", "--app", "fm_app", "db", *args]
    return Command(argv, project, database_environment(url, audit))


def database_environment(url, audit=None) -> dict[str, str]:
    """``DATABASE_URL``, and ``DATABASE_URL_AUDIT`` when there is an audit database."""
    environment = {"DATABASE_URL": as_environment(url)}
    if audit is not None:
        environment["DATABASE_URL_AUDIT"] = as_environment(audit)
    return environment


def latency_projects(workdir: Path) -> dict[str, Path]:
    """The copies the latency section runs: ours with one database, as before the
    binds work, and with two; Flask-Migrate with one and with two (``--multidb``)."""
    return {
        "ours": single_database(copy_project(workdir / "ours")),
        "before": project_at(BEFORE_BINDS, workdir / "before"),
        "two": copy_project(workdir / "ours_two"),
        "flask_migrate": flask_migrate_project(workdir / "flask_migrate"),
        "flask_migrate_two": flask_migrate_multidb_project(workdir / "fm_multidb"),
    }


# The contenders of the latency section, each with its databases: the one-database
# rows share one database (the same history); ours with two adds an audit database
# to it; Flask-Migrate's --multidb has two of its own (its history is its own). The
# one-database peers' ``check`` reads a twin of the shared one without the kit's
# serving table (``serving.py``), which they would report as a table the models
# lack.
DATABASES = ("default", "audit", "peer default", "peer audit", "peers' check")


def at_head(projects: dict[str, Path], databases: dict) -> None:
    """Bring every database to head: ours, then Flask-Migrate's --multidb after
    ``flask db migrate`` wrote its revision on its empty databases."""
    default, audit = databases["default"], databases["audit"]
    run(alembic(projects["two"], default, "upgrade", "head", audit=audit))
    peer = projects["flask_migrate_two"]
    peer_default, peer_audit = peer_databases(databases)
    run(flask_db(peer, peer_default, "migrate", "-m", "initial", audit=peer_audit))
    run(flask_db(peer, peer_default, "upgrade", audit=peer_audit))
    run(alembic(projects["ours"], databases["peers' check"], "upgrade", "head"))
    without_the_kits_tables(databases["peers' check"])


def without_the_kits_tables(url: sa.URL) -> None:
    """Drop the tables the kit keeps beside the version table: the peers' own
    commands know nothing of them."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            for table in sorted(kit_tables(VERSION_TABLE) - {VERSION_TABLE}):
                connection.exec_driver_sql(f"DROP TABLE {table}")
    finally:
        engine.dispose()


def peer_databases(databases: dict) -> tuple:
    """Flask-Migrate's --multidb databases: its default and audit ones."""
    return databases["peer default"], databases["peer audit"]


def upgrade_commands(projects: dict[str, Path], databases: dict) -> dict:
    """The no-op upgrade of each contender, and the floors, in the order of a round
    (ours with one database next to the project before the binds work)."""
    default, audit = databases["default"], databases["audit"]
    peer_default, peer_audit = peer_databases(databases)
    ours = projects["ours"]
    return {
        "ours": alembic(ours, default, "upgrade", "head"),
        "before": alembic(projects["before"], default, "upgrade", "head"),
        "flask_migrate": flask_db(projects["flask_migrate"], default, "upgrade"),
        "two": alembic(projects["two"], default, "upgrade", "head", audit=audit),
        "flask_migrate_two": flask_db(
            projects["flask_migrate_two"], peer_default, "upgrade", audit=peer_audit
        ),
        "heads": alembic(ours, default, "heads"),
        "flask_heads": Command([PYTHON, "-c", FLASK_FLOOR], ours),
        "sqlalchemy": Command(
            [PYTHON, "-c", SQLALCHEMY_FLOOR],
            ours,
            {"BENCH_DATABASE_URL": as_environment(default)},
        ),
        "python": Command([PYTHON, "-c", "pass"], ours),
    }


def check_commands(projects: dict[str, Path], databases: dict) -> dict:
    """``alembic check`` / ``flask db check`` of each contender."""
    default, audit = databases["default"], databases["audit"]
    peer_default, peer_audit = peer_databases(databases)
    return {
        "ours": alembic(projects["ours"], default, "check"),
        "before": alembic(projects["before"], databases["peers' check"], "check"),
        "flask_migrate": flask_db(
            projects["flask_migrate"], databases["peers' check"], "check"
        ),
        "two": alembic(projects["two"], default, "check", audit=audit),
        "flask_migrate_two": flask_db(
            projects["flask_migrate_two"], peer_default, "check", audit=peer_audit
        ),
    }


ONE = "one database"
TWO = "two databases (default, audit)"
BEFORE = f"the same before the second database (commit {BEFORE_BINDS})"

# The no-op upgrade rows: (ours, its measure, versus, their label, target).
UPGRADE_ROWS = (
    ("ours", ONE, "flask_migrate", "`flask db upgrade` (Flask-Migrate)", 0.85),
    ("ours", ONE, "before", BEFORE, 1.05),
    ("ours", ONE, "heads", "`alembic heads` (floor)", 1.2),
    (
        "ours",
        ONE,
        "flask_heads",
        "`alembic heads` after importing Flask and Flask-SQLAlchemy (floor of "
        "an env.py that imports a Flask-SQLAlchemy app)",
        None,
    ),
    (
        "ours",
        ONE,
        "sqlalchemy",
        "import SQLAlchemy, connect, read version (floor)",
        None,
    ),
    ("ours", ONE, "python", "`python -c pass` (floor)", None),
    (
        "two",
        TWO,
        "flask_migrate_two",
        "`flask db upgrade`, two databases (Flask-Migrate, `flask db init --multidb`)",
        0.85,
    ),
    ("two", TWO, "ours", "ours, one database (what the second database costs)", None),
)

# The check rows, in the same shape.
CHECK_ROWS = (
    ("ours", ONE, "flask_migrate", "`flask db check` (Flask-Migrate)", 0.8),
    ("ours", ONE, "before", BEFORE, None),
    (
        "two",
        TWO,
        "flask_migrate_two",
        "`flask db check`, two databases (Flask-Migrate, `flask db init --multidb`)",
        0.8,
    ),
    ("two", TWO, "ours", "ours, one database (what the second database costs)", None),
)


def ratio_rows(
    section: str, backend: str, command: str, times: Rounds, specs: tuple
) -> list[Row]:
    """One row per (ours, databases, versus, label, target) of ``specs``."""
    rows = []
    for name, databases, versus, label, limit in specs:
        ratio = times.ratio(name, versus)
        target, met = checked(ratio, limit) if limit else ("", None)
        measure = f"{command}, {databases}"
        ours, theirs = times.median(name), times.median(versus)
        rows.append(
            Row(section, backend, measure, ours, label, theirs, ratio, target, met)
        )
    return rows


def no_op_and_check(backend: str, workdir: Path, repeats: int) -> list[Row]:
    """No-op upgrade and check at head: ours with one database against
    Flask-Migrate, the project before the binds work and the floors; ours with two
    databases against Flask-Migrate's --multidb and against ours with one."""
    projects = latency_projects(workdir)
    with ExitStack() as stack:
        databases = {
            name: stack.enter_context(fresh_database(backend, workdir))
            for name in DATABASES
        }
        at_head(projects, databases)
        upgrade = rounds(upgrade_commands(projects, databases), repeats)
        check = rounds(check_commands(projects, databases), repeats)
    measure = "`alembic upgrade head`, at head"
    return [
        *ratio_rows("no-op upgrade", backend, measure, upgrade, UPGRADE_ROWS),
        *ratio_rows("check", backend, "`alembic check`", check, CHECK_ROWS),
    ]


def long_histories(
    backend: str, workdir: Path, lengths: list[int], repeats: int
) -> list[Row]:
    """No-op upgrade and ``alembic heads`` on generated histories of each length,
    a squashed copy of the longest, and the full upgrade from an empty database."""
    shortest, longest = min(lengths), max(lengths)
    projects = {
        length: project_with_history(workdir / f"history_{length}", length)
        for length in lengths
    }
    # The longest squashed with migration-squash, five revisions before its head;
    # and the shortest with the longest's models, to compare histories alone.
    squashed = squashed_project(workdir / f"squashed_{longest}", longest, longest - 5)
    same_models = project_with_history(
        workdir / f"history_{shortest}_same_models",
        shortest,
        model_steps=longest - len(real_history()),
    )
    # The longest history again, run with PYTHONDONTWRITEBYTECODE=1 (as many container
    # images set it): every command compiles every revision file from source.
    uncached = project_with_history(workdir / f"uncached_{longest}", longest)
    with ExitStack() as stack:
        urls = {
            name: stack.enter_context(fresh_database(backend, workdir))
            for name in [*lengths, "squashed", "same models"]
        }
        # One full upgrade from an empty database per history: it also brings each
        # database to head for the no-op runs.
        full = {
            length: timed(
                alembic(project, urls[length], "upgrade", "head", timeout=900)
            )
            for length, project in projects.items()
        }
        full["squashed"] = timed(
            alembic(squashed, urls["squashed"], "upgrade", "head", timeout=900)
        )
        run(alembic(same_models, urls["same models"], "upgrade", "head"))
        commands = {
            f"upgrade {length}": alembic(project, urls[length], "upgrade", "head")
            for length, project in projects.items()
        }
        commands["upgrade squashed"] = alembic(
            squashed, urls["squashed"], "upgrade", "head"
        )
        commands["upgrade same models"] = alembic(
            same_models, urls["same models"], "upgrade", "head"
        )
        commands["upgrade uncached"] = alembic(
            uncached, urls[longest], "upgrade", "head"
        )
        commands["upgrade uncached"].env["PYTHONDONTWRITEBYTECODE"] = "1"
        for length, project in projects.items():
            commands[f"heads {length}"] = alembic(project, urls[length], "heads")
        times = rounds(commands, repeats)
    section = "long history"
    base = f"upgrade {shortest}"
    rows = []
    for length in lengths:
        if length == shortest:
            continue
        ratio = times.ratio(f"upgrade {length}", base)
        target, met = checked(ratio, 1.15) if length == longest else ("", None)
        rows.append(
            Row(
                section,
                backend,
                f"no-op upgrade, {length} revisions",
                times.median(f"upgrade {length}"),
                f"{shortest} revisions",
                times.median(base),
                ratio,
                target,
                met,
            )
        )
    squashed_name = (
        f"no-op upgrade, {longest} squashed by migration-squash at revision "
        f"{longest - 5}"
    )
    ratio = times.ratio("upgrade squashed", "upgrade same models")
    rows.append(
        Row(
            section,
            backend,
            squashed_name,
            times.median("upgrade squashed"),
            f"{shortest} revisions with the same models",
            times.median("upgrade same models"),
            ratio,
            *checked(ratio, 1.05),
        )
    )
    rows.append(
        Row(
            section,
            backend,
            squashed_name,
            times.median("upgrade squashed"),
            f"{shortest} revisions (their own, smaller models)",
            times.median(base),
            times.ratio("upgrade squashed", base),
            note="the rest is the models' size",
        )
    )
    ratio = times.ratio(f"upgrade {longest}", "upgrade squashed")
    rows.append(
        Row(
            section,
            backend,
            f"no-op upgrade, {longest} revisions",
            times.median(f"upgrade {longest}"),
            "the same squashed (same models)",
            times.median("upgrade squashed"),
            ratio,
            note="what the history's length alone costs",
        )
    )
    ratio = times.ratio("upgrade uncached", f"upgrade {longest}")
    rows.append(
        Row(
            section,
            backend,
            f"no-op upgrade, {longest} revisions, no bytecode cache "
            "(PYTHONDONTWRITEBYTECODE=1)",
            times.median("upgrade uncached"),
            "with the cache (`__pycache__`)",
            times.median(f"upgrade {longest}"),
            ratio,
        )
    )
    rows.append(
        Row(
            section,
            backend,
            f"`alembic heads`, {longest} revisions",
            times.median(f"heads {longest}"),
            f"{shortest} revisions",
            times.median(f"heads {shortest}"),
            times.ratio(f"heads {longest}", f"heads {shortest}"),
        )
    )
    per_revision = (full[longest] - full[shortest]) / (longest - shortest)
    rows.append(
        Row(
            section,
            backend,
            f"full upgrade from empty, {longest} revisions",
            full[longest],
            f"{shortest} revisions",
            full[shortest],
            full[longest] / full[shortest],
            note=f"one run; {per_revision * 1000:.1f} ms per extra revision",
        )
    )
    rows.append(
        Row(
            section,
            backend,
            f"full upgrade from empty, {longest} squashed at revision {longest - 5}",
            full["squashed"],
            f"{longest} revisions",
            full[longest],
            full["squashed"] / full[longest],
            note="one run",
        )
    )
    return rows


# Cumulative steps of a no-op ``alembic upgrade head``, each one process: what each
# layer adds to the start-up. The last step is everything env.py does before Alembic
# reads ``alembic_version``.
BREAKDOWN = {
    "Python start-up": "pass",
    "+ import SQLAlchemy": "import sqlalchemy",
    "+ import Alembic's command layer, context and op": (
        "import sqlalchemy, alembic.config, alembic.command\n"
        "from alembic import context, op"
    ),
    "+ import Flask": (
        "import sqlalchemy, alembic.config, alembic.command, flask\n"
        "from alembic import context, op"
    ),
    "+ import Flask-SQLAlchemy (SQLAlchemy ORM)": (
        "import sqlalchemy, alembic.config, alembic.command, flask, flask_sqlalchemy\n"
        "from alembic import context, op"
    ),
    "+ import app (its models)": (
        "import sqlalchemy, alembic.config, alembic.command, flask, flask_sqlalchemy\n"
        "from alembic import context, op\n"
        "import app"
    ),
    "+ create_app(web=False) as env.py builds it, its engine, connect": (
        "import sqlalchemy, alembic.config, alembic.command, flask, flask_sqlalchemy\n"
        "from alembic import context, op\n"
        "from app import create_app\nfrom app.db import db\n"
        "flask_app = create_app(web=False)\n"
        "with flask_app.app_context():\n    engine = db.engine\n"
        "engine.connect().close()\nengine.dispose()"
    ),
}


def breakdown(backend: str, workdir: Path, repeats: int) -> list[Row]:
    """Where the time of a no-op upgrade goes, layer by layer."""
    ours = copy_project(workdir / "ours")
    with fresh_database(backend, workdir) as url:
        environment = {"DATABASE_URL": as_environment(url)}
        times = rounds(
            {
                step: Command([PYTHON, "-c", code], ours, environment)
                for step, code in BREAKDOWN.items()
            },
            repeats,
        )
    rows, previous = [], None
    for step in BREAKDOWN:
        median = times.median(step)
        note = f"+{(median - times.median(previous)) * 1000:.0f} ms" if previous else ""
        rows.append(
            Row(
                "no-op upgrade: start-up layers",
                backend,
                step,
                median,
                previous or "",
                times.median(previous) if previous else None,
                note=note,
            )
        )
        previous = step
    return rows
