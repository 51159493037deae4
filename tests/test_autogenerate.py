"""``alembic revision --autogenerate`` in a temporary copy of the project, through the
real command line: no model change writes no file, a model change writes one clean
revision that applies and leaves ``alembic check`` clean."""

import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from conftest import alembic_runner, copy_project

# Each change is an edit to app/models.py: (the text to find, what to put instead).
MODEL_CHANGES = {
    "new column": (
        "    display_name: orm.Mapped[str] = orm.mapped_column(sa.String(80))\n",
        "    display_name: orm.Mapped[str] = orm.mapped_column(sa.String(80))\n"
        "    bio: orm.Mapped[str | None] = orm.mapped_column(sa.Text)\n",
    ),
    "changed type": (
        "title: orm.Mapped[str] = orm.mapped_column(sa.String(200))",
        "title: orm.Mapped[str] = orm.mapped_column(sa.String(300))",
    ),
    "new index": (
        "orm.mapped_column(default=utc_now)",
        "orm.mapped_column(default=utc_now, index=True)",
    ),
    "new foreign key": (
        "    title: orm.Mapped[str]",
        "    reviewer_id: orm.Mapped[int | None] = orm.mapped_column(\n"
        '        sa.ForeignKey("users.id")\n'
        "    )\n"
        "    title: orm.Mapped[str]",
    ),
}


@pytest.fixture
def project(tmp_path, fresh_database_url):
    """A copy of the project, its database migrated to head, and a way to run
    ``alembic`` in it."""
    copy_project(tmp_path)
    alembic = alembic_runner(tmp_path, fresh_database_url)
    assert alembic("upgrade", "head").returncode == 0
    return tmp_path, alembic


def revision_files(path: Path) -> set[Path]:
    """The revision files of the copy."""
    return set((path / "alembic" / "versions").glob("*.py"))


def test_no_model_change_writes_no_revision(project):
    path, alembic = project
    files = revision_files(path)

    result = alembic("revision", "--autogenerate", "-m", "nothing changed")

    assert result.returncode == 0, result.stderr
    assert "No changes in schema detected" in result.stderr
    assert revision_files(path) == files


@pytest.mark.parametrize("change", MODEL_CHANGES)
def test_model_change_writes_one_clean_revision(project, change):
    path, alembic = project
    models = path / "app" / "models.py"
    find, replace = MODEL_CHANGES[change]
    assert find in models.read_text()
    models.write_text(models.read_text().replace(find, replace, 1))
    files = revision_files(path)

    result = alembic("revision", "--autogenerate", "-m", f"model change: {change}")

    assert result.returncode == 0, result.stderr
    [new_file] = revision_files(path) - files
    ruff = [sys.executable, "-m", "ruff"]
    lint = subprocess.run(
        [*ruff, "check", new_file], cwd=path, capture_output=True, text=True
    )
    assert lint.returncode == 0, lint.stdout
    style = subprocess.run(
        [*ruff, "format", "--check", new_file], cwd=path, capture_output=True, text=True
    )
    assert style.returncode == 0, style.stdout

    upgrade = alembic("upgrade", "head")
    assert upgrade.returncode == 0, upgrade.stderr
    check = alembic("check")
    assert check.returncode == 0, check.stderr
    assert "No new upgrade operations detected." in check.stdout
    downgrade = alembic("downgrade", "-1")
    assert downgrade.returncode == 0, downgrade.stderr


def test_plain_revision_is_ready_to_be_written_by_hand(tmp_path):
    copy_project(tmp_path)
    alembic = alembic_runner(tmp_path, sa.make_url(f"sqlite:///{tmp_path}/db.sqlite"))
    files = revision_files(tmp_path)

    result = alembic("revision", "-m", "hand written")

    assert result.returncode == 0, result.stderr
    [new_file] = revision_files(tmp_path) - files
    source = new_file.read_text()
    assert "import sqlalchemy as sa\n" in source
    assert "from alembic import op\n" in source
    assert '"""hand written\n' in source


def test_check_prints_each_difference_as_an_operation(project):
    path, alembic = project
    models = path / "app" / "models.py"
    find, replace = MODEL_CHANGES["changed type"]
    models.write_text(models.read_text().replace(find, replace, 1))

    result = alembic("check")

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stdout.splitlines() == [
        "FAILED: the database and the models differ; a revision would contain:",
        "  op.alter_column('posts', 'title', existing_type=sa.VARCHAR(length=200), "
        "type_=sa.String(length=300), existing_nullable=False)",
        'Write it with: alembic revision --autogenerate -m "..."',
    ]


def test_autogenerate_on_a_database_behind_says_what_to_do(project, history):
    path, alembic = project
    assert alembic("downgrade", "-1").returncode == 0

    result = alembic("revision", "--autogenerate", "-m", "too early")

    assert result.returncode != 0
    assert result.stdout.strip() == (
        f"FAILED: the database is at {history[-2].revision}, behind head "
        f"{history[-1].revision}: run alembic upgrade head first"
    )


def test_autogenerate_says_what_it_detected_and_no_chatter(project, fresh_database_url):
    path, alembic = project
    models = path / "app" / "models.py"
    find, replace = MODEL_CHANGES["new column"]
    models.write_text(models.read_text().replace(find, replace, 1))

    result = alembic("revision", "--autogenerate", "-m", "Add user bio")

    assert result.returncode == 0, result.stderr
    assert "Detected added column 'users.bio'" in result.stderr
    assert "setting up autogenerate plugin" not in result.stderr
    assert "Detected sequence named" not in result.stderr  # PostgreSQL's SERIAL note
    if fresh_database_url.get_backend_name() != "mysql":  # true only of MariaDB
        assert "Will assume non-transactional DDL" not in result.stderr
    [new_file] = [
        f for f in revision_files(path) if f.name.endswith("_add_user_bio.py")
    ]
    source = new_file.read_text()
    assert '    """Add user bio."""\n' in source
    assert '    """Undo: Add user bio."""\n' in source
    assert "schema=None" not in source
