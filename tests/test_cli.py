"""The ``alembic`` command line as users run it, from the project root, configured by
``DATABASE_URL`` alone."""

import pytest

from conftest import ROOT, alembic_runner


@pytest.fixture
def alembic(fresh_database_url):
    """Run ``alembic <args>`` in the project root against a fresh database."""
    return alembic_runner(ROOT, fresh_database_url)


def test_upgrade_current_check_downgrade(alembic, history):
    head, previous = history[-1].revision, history[-2].revision

    upgrade = alembic("upgrade", "head")
    assert upgrade.returncode == 0, upgrade.stderr
    assert f"-> {head}, {history[-1].doc}" in upgrade.stderr

    current = alembic("current")
    assert current.stdout.strip() == f"{head} (head)"

    check = alembic("check")
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip() == "No new upgrade operations detected."

    downgrade = alembic("downgrade", "-1")
    assert downgrade.returncode == 0, downgrade.stderr
    assert alembic("current").stdout.strip() == previous

    assert alembic("downgrade", "base").returncode == 0
    assert alembic("current").stdout.strip() == ""


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
