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
