"""The committed schema snapshots (``schema/<database>.txt``) match a database
migrated to head, and ``schema-snapshot`` rewrites or checks them."""

import difflib
import shutil

from conftest import ROOT
from tools import snapshot

CONFIG = ROOT / "alembic.ini"


def test_committed_snapshot_is_up_to_date(database):
    database.upgrade("head")
    migrated = snapshot.schema_text(database.engine, snapshot.head_of(CONFIG))
    path = snapshot.snapshot_path(CONFIG, database.backend)
    committed = path.read_text(encoding="utf-8") if path.exists() else ""
    diff = "".join(
        difflib.unified_diff(
            committed.splitlines(keepends=True),
            migrated.splitlines(keepends=True),
            "committed",
            "migrated to head",
        )
    )
    assert migrated == committed, (
        f"schema/{path.name} is out of date; regenerate it with: "
        f"{snapshot.regenerate_command(database.backend)}\n{diff}"
    )


def test_snapshot_shows_the_schema_at_head(history):
    text = (ROOT / "schema" / "sqlite.txt").read_text(encoding="utf-8")
    assert f"# The schema at head ({history[-1].revision}) on sqlite" in text
    assert "  column display_name VARCHAR(80) NOT NULL" in text
    assert (
        "  foreign key fk_posts_user_id_users (user_id) -> users (id) "
        "on delete cascade" in text
    )
    assert "  index ix_posts_user_id (user_id)" in text
    assert "  unique uq_users_email (email)" in text
    assert "alembic_version" not in text
    assert text.index("table posts") < text.index("table users")


def test_command_checks_and_rewrites_a_stale_snapshot(tmp_path, monkeypatch, capsys):
    for name in ("alembic", "schema"):
        shutil.copytree(
            ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(CONFIG, tmp_path / "alembic.ini")
    monkeypatch.chdir(tmp_path)
    stale = tmp_path / "schema" / "sqlite.txt"
    stale.write_text("table users\n", encoding="utf-8")

    assert snapshot.main(["--check"]) == 1
    assert (
        "schema/sqlite.txt: out of date; rewrite it with: schema-snapshot"
        in capsys.readouterr().out
    )
    assert snapshot.main([]) == 0
    assert "schema/sqlite.txt: written" in capsys.readouterr().out
    assert stale.read_text() == (ROOT / "schema" / "sqlite.txt").read_text()
    assert snapshot.main(["--check"]) == 0
    # The report alone: not Alembic's INFO line for every revision of every run.
    assert "Running upgrade" not in capsys.readouterr().err


def test_command_without_config_exits_2(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert snapshot.main([]) == 2
    assert capsys.readouterr().err.startswith(
        "schema-snapshot: error: no Alembic config at"
    )


def test_command_reports_a_migration_refused_by_env_py(monkeypatch, capsys):
    # env.py raises CommandError on a bad MIGRATION_* value: one line, exit 2.
    monkeypatch.setenv("MIGRATION_LOCK_RETRIES", "abc")
    assert snapshot.main(["--check", "--config", str(CONFIG)]) == 2
    assert capsys.readouterr().err == (
        "schema-snapshot: error: sqlite: "
        "MIGRATION_LOCK_RETRIES must be a whole number from 0 to 100, not 'abc'\n"
    )
