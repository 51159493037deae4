"""The ``alembic`` command line as users run it, from the project root, configured by
``DATABASE_URL`` alone."""

import pytest
import sqlalchemy as sa

from conftest import AUDIT, ROOT, alembic_runner, copy_project, revisions


@pytest.fixture
def alembic(fresh_database_url, audit_database):
    """Run ``alembic <args>`` in the project root against fresh databases, the
    default one and the audit one, on each backend."""
    audit = audit_database.url.render_as_string(hide_password=False)
    return alembic_runner(ROOT, fresh_database_url, DATABASE_URL_AUDIT=audit)


def test_upgrade_current_check_downgrade(alembic, history):
    head, previous = history[-1].revision, history[-2].revision
    (audit_head,) = [revision.revision for revision in revisions(AUDIT)]

    upgrade = alembic("upgrade", "head")
    assert upgrade.returncode == 0, upgrade.stderr
    assert f"-> {head}, {history[-1].doc}" in upgrade.stderr
    assert f"-> {audit_head}, Adding audit events table" in upgrade.stderr

    current = alembic("current")
    assert current.stdout.splitlines() == [
        "# database default",
        f"{head} (head)",
        "# database audit",
        f"{audit_head} (head)",
    ]

    check = alembic("check")
    assert check.returncode == 0, check.stderr
    # Alembic prints check's verdict once env.py is done: the bind goes first.
    assert check.stdout.splitlines() == [
        "# database audit",
        "No new upgrade operations detected.",
        "# database default",
        "No new upgrade operations detected.",
    ]

    # A relative step moves the default database only: "undo my last revision"
    # never takes the audit history down with it.
    downgrade = alembic("downgrade", "-1")
    assert downgrade.returncode == 0, downgrade.stderr
    assert downgrade.stdout.splitlines() == [
        "# database default",
        "# database audit",
        "not moved: a relative step (-1) moves the default database only; "
        "alembic -n audit downgrade -1 moves this one",
    ]
    assert alembic("current").stdout.splitlines() == [
        "# database default",
        previous,
        "# database audit",
        f"{audit_head} (head)",
    ]

    assert alembic("downgrade", "base").returncode == 0
    assert alembic("current").stdout.splitlines() == [
        "# database default",
        "# database audit",
    ]


def test_history_lists_every_revision_in_order(alembic, history):
    result = alembic("history")
    assert result.returncode == 0
    lines = result.stdout.strip().splitlines()
    assert len(lines) == len(history)
    assert lines[0].endswith(f"(head), {history[-1].doc}")
    assert lines[-1].startswith(f"<base> -> {history[0].revision}, Initial migration")


def test_unknown_revision_is_one_clear_line(alembic):
    result = alembic("upgrade", "deadbeef0000")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    # Once, as Alembic's FAILED line: not also as an ERROR log line before it.
    output = result.stdout + result.stderr
    assert output.count("Can't locate revision identified by 'deadbeef0000'") == 1
    assert "FAILED: Can't locate revision identified by 'deadbeef0000'" in output


def test_sql_range_renders_without_a_connection(alembic, history):
    first, second = history[0].revision, history[1].revision
    result = alembic("upgrade", f"{first}:{second}", "--sql")
    assert result.returncode == 0, result.stderr
    assert "CREATE TABLE users" in result.stdout
    assert f"version_num='{second}'" in result.stdout


AUTOCOMMIT_REVISION = '''"""Index titles concurrently

Revision ID: c0ac00000001
Revises: bb4b390c7d31
"""

from alembic import op

revision = "c0ac00000001"
down_revision = "bb4b390c7d31"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Index titles, outside a transaction where the database needs it."""
    with op.get_context().autocommit_block():
        op.create_index(
            "ix_posts_title", "posts", ["title"], postgresql_concurrently=True
        )


def downgrade() -> None:
    """Drop the index."""
    op.drop_index("ix_posts_title", table_name="posts")
'''


def test_autocommit_block_runs_on_every_database(tmp_path, fresh_database_url):
    """The README's way to build an index without blocking writes: CONCURRENTLY on
    PostgreSQL, and on SQLite inside the run's one transaction (Alembic's own block
    cannot end a transaction env.py began)."""
    project = copy_project(tmp_path)
    versions = project / "alembic" / "versions"
    (versions / "2026_12_01_c0ac00000001_index.py").write_text(AUTOCOMMIT_REVISION)
    alembic = alembic_runner(project, fresh_database_url)
    for command in (["upgrade", "head"], ["downgrade", "-1"], ["upgrade", "head"]):
        result = alembic(*command)
        assert result.returncode == 0, (command, result.stdout)
    engine = sa.create_engine(fresh_database_url)
    with engine.connect() as connection:
        indexes = sa.inspect(connection).get_indexes("posts")
    engine.dispose()
    assert "ix_posts_title" in {index["name"] for index in indexes}
    assert alembic("current").stdout.splitlines()[:2] == [
        "# database default",
        "c0ac00000001 (head)",
    ]
