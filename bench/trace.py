"""``migration-review --trace`` on one small revision: the time a pull request's
review takes to run it on every configured database at 10,000 rows per table
(the issue's target: at most 30 s on this 2-core machine)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from bench.databases import SERVER_URL_VARIABLES
from bench.projects import ROOT, copy_project
from bench.report import Row
from bench.timing import Command, rounds

TARGET_SECONDS = 30.0

# The README's example, without its blocking index: a nullable column, in the
# models and in a revision on a branch.
REVISION = '''"""Add users bio

Revision ID: be9c00000001
Revises: {head}
"""

import sqlalchemy as sa
from alembic import op

revision = "be9c00000001"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add users bio."""
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("bio", sa.Text(), nullable=True))


def downgrade() -> None:
    """Undo: add users bio."""
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("bio")
'''
MODEL_LINE = "    display_name: orm.Mapped[str] = orm.mapped_column(sa.String(80))\n"
BIO = "    bio: orm.Mapped[str | None] = orm.mapped_column(sa.Text)\n"

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(project: Path, *args: str) -> None:
    """Run git in the benchmark's repository."""
    environment = {**os.environ, **GIT_IDENTITY, "GIT_CONFIG_GLOBAL": os.devnull}
    subprocess.run(
        ["git", *args], cwd=project, env=environment, check=True, capture_output=True
    )


def branch_with_one_revision(workdir: Path, head: str) -> Path:
    """A git repository holding the project on ``main`` and, on a branch, one
    revision adding a column that the models add too."""
    project = copy_project(workdir / "project")
    shutil.copytree(ROOT / "tools", project / "tools")
    shutil.copy(ROOT / "pyproject.toml", project / "pyproject.toml")
    git(project, "init", "--quiet", "--initial-branch=main")
    git(project, "add", "-A")
    git(project, "commit", "--quiet", "-m", "The project")
    git(project, "checkout", "--quiet", "-b", "feature")
    models = project / "app" / "models.py"
    models.write_text(models.read_text().replace(MODEL_LINE, MODEL_LINE + BIO, 1))
    versions = project / "alembic" / "versions"
    (versions / "2026_12_01_bio.py").write_text(REVISION.format(head=head))
    git(project, "add", "-A")
    git(project, "commit", "--quiet", "-m", "Add users bio")
    return project


def traced_review(workdir: Path, head: str, repeats: int) -> list[Row]:
    """Time ``migration-review --trace`` of the one revision."""
    project = branch_with_one_revision(workdir, head)
    databases = ["sqlite"] + [
        name
        for name, variable in SERVER_URL_VARIABLES.items()
        if os.environ.get(variable)
    ]
    command = Command(
        [sys.executable, "-m", "tools.review", "--base", "main", "--trace"],
        project,
        timeout=300,
    )
    result = rounds({"trace": command}, repeats)
    median = result.median("trace")
    return [
        Row(
            "migration-review --trace",
            ", ".join(databases),
            "one small revision, 10,000 rows per table",
            median,
            target=f"<= {TARGET_SECONDS:g} s",
            met=median <= TARGET_SECONDS,
        )
    ]
