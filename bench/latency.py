"""Command latency: a no-op ``alembic upgrade head`` and ``alembic check`` against
Flask-Migrate and the floors, and how the no-op grows with the length of the history.
"""

import sys
from contextlib import ExitStack
from pathlib import Path

from bench.databases import as_environment, fresh_database
from bench.projects import (
    copy_project,
    flask_migrate_project,
    project_with_history,
    real_history,
    squashed_project,
)
from bench.report import Row, checked
from bench.timing import Command, rounds, run, timed

PYTHON = sys.executable

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


def alembic(project: Path, url, *args: str, timeout: float = 120.0) -> Command:
    """``alembic <args>`` run in a project copy on a database."""
    environment = {"DATABASE_URL": as_environment(url)}
    return Command([PYTHON, "-m", "alembic", *args], project, environment, timeout)


def flask_db(project: Path, url, *args: str) -> Command:
    """``flask db <args>`` (Flask-Migrate) run in its project copy on a database."""
    environment = {"DATABASE_URL": as_environment(url)}
    return Command(
        [PYTHON, "-m", "flask", "--app", "fm_app", "db", *args], project, environment
    )


def no_op_and_check(backend: str, workdir: Path, repeats: int) -> list[Row]:
    """No-op upgrade and check, ours against Flask-Migrate and the floors."""
    ours = copy_project(workdir / "ours")
    peer = flask_migrate_project(workdir / "flask_migrate")
    with fresh_database(backend, workdir) as url:
        run(alembic(ours, url, "upgrade", "head"))
        upgrade = rounds(
            {
                "ours": alembic(ours, url, "upgrade", "head"),
                "flask_migrate": flask_db(peer, url, "upgrade"),
                "heads": alembic(ours, url, "heads"),
                "flask_heads": Command([PYTHON, "-c", FLASK_FLOOR], ours),
                "sqlalchemy": Command(
                    [PYTHON, "-c", SQLALCHEMY_FLOOR],
                    ours,
                    {"BENCH_DATABASE_URL": as_environment(url)},
                ),
                "python": Command([PYTHON, "-c", "pass"], ours),
            },
            repeats,
        )
        check = rounds(
            {
                "ours": alembic(ours, url, "check"),
                "flask_migrate": flask_db(peer, url, "check"),
            },
            repeats,
        )
    section = "no-op upgrade"
    measure = "`alembic upgrade head`, at head"
    rows = []
    for name, versus, limit in (
        ("flask_migrate", "`flask db upgrade` (Flask-Migrate)", 0.85),
        ("heads", "`alembic heads` (floor)", 1.2),
        (
            "flask_heads",
            "`alembic heads` after importing Flask and Flask-SQLAlchemy (floor of "
            "an env.py that imports a Flask-SQLAlchemy app)",
            None,
        ),
        ("sqlalchemy", "import SQLAlchemy, connect, read version (floor)", None),
        ("python", "`python -c pass` (floor)", None),
    ):
        ratio = upgrade.ratio("ours", name)
        target, met = checked(ratio, limit) if limit else ("", None)
        rows.append(
            Row(
                section,
                backend,
                measure,
                upgrade.median("ours"),
                versus,
                upgrade.median(name),
                ratio,
                target,
                met,
            )
        )
    ratio = check.ratio("ours", "flask_migrate")
    rows.append(
        Row(
            "check",
            backend,
            "`alembic check`",
            check.median("ours"),
            "`flask db check` (Flask-Migrate)",
            check.median("flask_migrate"),
            ratio,
            *checked(ratio, 0.8),
        )
    )
    return rows


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
