"""Temporary copies of the project the benchmarks run in: the real history, a
generated long history, a squashed one, the project with one database or as it was
before it had two, and the same app wired to Flask-Migrate (one database or
``--multidb``)."""

import io
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory

from bench.timing import BenchError, Command, run

ROOT = Path(__file__).resolve().parent.parent

# Generated revisions add indexed columns to scratch tables, this many per table:
# MariaDB/MySQL allow 64 indexes on one table.
COLUMNS_PER_TABLE = 50

# The project as it was before it had a second database (the last commit before the
# binds work): what a team with one database ran until then.
BEFORE_BINDS = "f3f7747"

# How the Flask-Migrate peer is wired: the same factory and db, plus ``Migrate`` as
# Flask-Migrate's documentation shows, with the options our env.py uses. The app is
# built as our env.py builds it (``web=False``: no blueprints), so that both tools
# migrate the same app; the API's audit blueprint needs the audit model, which the
# one-database copy does not have.
FLASK_MIGRATE_APP = '''"""The same app, wired to Flask-Migrate (benchmark peer only)."""

from flask_migrate import Migrate

from app import create_app
from app.db import db

app = create_app(web=False)
Migrate(app, db, render_as_batch=True, compare_type=True, compare_server_default=True)
'''


def copy_project(destination: Path) -> Path:
    """Copy app/, alembic/ and alembic.ini (as they are in the working tree)."""
    ignore = shutil.ignore_patterns("__pycache__")
    for name in ("app", "alembic"):
        shutil.copytree(ROOT / name, destination / name, ignore=ignore)
    shutil.copy(ROOT / "alembic.ini", destination / "alembic.ini")
    return destination


def single_database(project: Path) -> Path:
    """Turn a project copy into the project as a team without a second database
    has it: no audit model in app/models.py, no [audit] section (nor its comment)
    in alembic.ini."""
    models = project / "app" / "models.py"
    text = models.read_text()
    models.write_text(text[: position(text, "\n\nclass AuditEvent", models)] + "\n")
    ini = project / "alembic.ini"
    text = ini.read_text()
    start = position(text, "# The audit database", ini)
    ini.write_text(text[:start] + text[position(text, "[post_write_hooks]", ini) :])
    return project


def position(text: str, marker: str, path: Path) -> int:
    """Where ``marker`` starts in a file's text; a file that changed shape is a
    one-line failure naming the file and what is missing."""
    found = text.find(marker)
    if found < 0:
        raise BenchError(
            f"no one-database copy: {path.name} has no {marker.strip()!r} any more"
        )
    return found


def project_at(commit: str, destination: Path) -> Path:
    """app/, alembic/ and alembic.ini as they were at a commit (``git archive``)."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", commit, "app", "alembic", "alembic.ini"],
        capture_output=True,
        check=True,
    ).stdout
    destination.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(destination, filter="data")
    return destination


def real_history() -> list[str]:
    """The project's revision ids, base first."""
    script = ScriptDirectory.from_config(Config(ROOT / "alembic.ini"))
    return [revision.revision for revision in reversed(list(script.walk_revisions()))]


def scratch_table(step: int) -> str:
    """The scratch table generated step ``step`` (1-based) adds its column to."""
    return f"bench_scratch_{(step - 1) // COLUMNS_PER_TABLE}"


def generated_revision(step: int, down_revision: str) -> tuple[str, str]:
    """The id and source of generated revision ``step``: one indexed column."""
    revision = f"b{step:011x}"
    table, column = scratch_table(step), f"c{step}"
    creates_table = (step - 1) % COLUMNS_PER_TABLE == 0
    if creates_table:
        up = (
            f"    op.create_table(\n        {table!r},\n"
            f"        sa.Column('id', sa.Integer(), nullable=False),\n"
            f"        sa.Column({column!r}, sa.Integer(), nullable=True),\n"
            f"        sa.PrimaryKeyConstraint('id', name=op.f('pk_{table}')),\n"
            "    )\n"
        )
        down = f"    op.drop_table({table!r})\n"
    else:
        up = f"    op.add_column({table!r}, sa.Column({column!r}, sa.Integer()))\n"
        down = (
            f"    with op.batch_alter_table({table!r}) as batch_op:\n"
            f"        batch_op.drop_column({column!r})\n"
        )
    index = f"op.f('ix_{table}_{column}')"
    up += f"    op.create_index({index}, {table!r}, [{column!r}])\n"
    down = f"    op.drop_index({index}, table_name={table!r})\n" + down
    source = (
        f'"""Generated step {step}: add and index {table}.{column}."""\n\n'
        "import sqlalchemy as sa\nfrom alembic import op\n\n"
        f"revision = {revision!r}\ndown_revision = {down_revision!r}\n"
        "branch_labels = None\ndepends_on = None\n\n\n"
        f'def upgrade() -> None:\n    """Add and index the column."""\n{up}\n\n'
        f'def downgrade() -> None:\n    """Drop the column."""\n{down}'
    )
    return revision, source


def scratch_models(steps: int) -> str:
    """Model classes matching the scratch tables, to append to app/models.py."""
    source = ""
    for first in range(1, steps + 1, COLUMNS_PER_TABLE):
        table = scratch_table(first)
        last = min(first + COLUMNS_PER_TABLE - 1, steps)
        source += (
            f"\n\nclass {table.title().replace('_', '')}(db.Model):\n"
            f'    """Generated for the benchmarks."""\n\n'
            f"    __tablename__ = {table!r}\n"
            "    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)\n"
        )
        source += "".join(
            f"    c{step}: orm.Mapped[int | None] = orm.mapped_column(index=True)\n"
            for step in range(first, last + 1)
        )
    return source


def project_with_history(
    destination: Path, total: int, model_steps: int | None = None
) -> Path:
    """A copy of the project whose history has ``total`` revisions: the project's
    own, then generated ones. The models match the history, or carry the columns of
    ``model_steps`` generated steps (to compare histories with the same models)."""
    copy_project(destination)
    real = real_history()
    steps = total - len(real)
    if steps < 1:
        raise ValueError(f"a generated history needs more than {len(real)} revisions")
    versions = destination / "alembic" / "versions"
    down_revision = real[-1]
    for step in range(1, steps + 1):
        revision, source = generated_revision(step, down_revision)
        name = f"2099_01_01_{step:06d}-{revision}_generated_step_{step}.py"
        (versions / name).write_text(source)
        down_revision = revision
    models = destination / "app" / "models.py"
    models.write_text(models.read_text() + scratch_models(model_steps or steps))
    return destination


def squashed_project(destination: Path, total: int, at: int) -> Path:
    """A ``total``-revision history squashed by ``migration-squash`` at its revision
    number ``at`` (1-based), in a git repository of its own (the command deletes
    committed files only)."""
    project_with_history(destination, total)
    revision = generated_revision(at - len(real_history()), "")[0]
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost"]
    for arguments in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "history"]):
        run(Command([*git, *arguments], destination))
    squash = [sys.executable, "-m", "tools.squash", revision]
    run(Command(squash, destination, timeout=900.0))
    return destination


def flask_db_command(project: Path, *args: str) -> Command:
    """``flask db <args>`` in a Flask-Migrate copy, for its set-up."""
    argv = [sys.executable, "-m", "flask", "--app", "fm_app", "db", *args]
    return Command(argv, project)


def flask_migrate_project(destination: Path) -> Path:
    """The one-database project run by Flask-Migrate: ``flask db init``'s
    migrations/ folder (its own env.py and alembic.ini) with our revision files in
    versions/."""
    single_database(copy_project(destination))
    (destination / "fm_app.py").write_text(FLASK_MIGRATE_APP)
    run(flask_db_command(destination, "init"))
    versions = destination / "migrations" / "versions"
    for path in (ROOT / "alembic" / "versions").glob("*.py"):
        shutil.copy(path, versions / path.name)
    return destination


def flask_migrate_multidb_project(destination: Path) -> Path:
    """The two-database project run by Flask-Migrate: ``flask db init --multidb``'s
    migrations/ folder, no revisions yet. Its revision files carry one
    ``upgrade_<bind>()`` per database, so they are its own: ``flask db migrate``
    writes them on empty databases (``SQLALCHEMY_BINDS`` comes from
    ``DATABASE_URL_AUDIT``, as in our app)."""
    copy_project(destination)
    (destination / "fm_app.py").write_text(FLASK_MIGRATE_APP)
    run(flask_db_command(destination, "init", "--multidb"))
    return destination
