"""The committed schema snapshots (``schema/<database>.txt``) match a database
migrated to head, and ``schema-snapshot`` rewrites or checks them."""

import difflib
import shutil

import pytest
import sqlalchemy as sa

from app.db import db
from conftest import ROOT, SERVER_URL_VARIABLES, configured_backends
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


def test_snapshot_shows_the_models_at_head(history):
    """The committed SQLite snapshot names what the models have, whatever they are:
    each table with each column, foreign key, unique constraint and index by the
    name the naming convention gives it, in name order, and no version table."""
    text = (ROOT / "schema" / "sqlite.txt").read_text(encoding="utf-8")
    assert f"# The schema at head ({history[-1].revision}) on sqlite" in text
    tables = sorted(db.metadata.tables)
    assert tables
    assert [line[6:] for line in text.splitlines() if line.startswith("table ")] == (
        tables
    )
    for name in tables:
        table = db.metadata.tables[name]
        block = text.split(f"\ntable {name}\n", 1)[1].split("\n\n", 1)[0]
        for column in table.columns:
            assert f"  column {column.name} " in block, (name, column.name)
        for key in table.foreign_key_constraints:
            columns = ", ".join(column.name for column in key.columns)
            assert f"  foreign key {key.name} ({columns}) -> " in block
        for unique in table.constraints:
            if isinstance(unique, sa.UniqueConstraint):
                columns = ", ".join(column.name for column in unique.columns)
                assert f"  unique {unique.name} ({columns})" in block
        for index in table.indexes:
            assert f"index {index.name} (" in block, (name, index.name)
    assert "alembic_version" not in text


def test_command_checks_and_rewrites_a_stale_snapshot(tmp_path, monkeypatch, capsys):
    for name in ("alembic", "schema"):
        shutil.copytree(
            ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(CONFIG, tmp_path / "alembic.ini")
    monkeypatch.chdir(tmp_path)
    for variable in SERVER_URL_VARIABLES.values():
        monkeypatch.delenv(variable, raising=False)
    stale = tmp_path / "schema" / "sqlite.txt"
    stale.write_text("table users\n", encoding="utf-8")

    assert snapshot.main(["--check"]) == 1
    out = capsys.readouterr().out
    assert "schema/sqlite.txt: out of date; rewrite it with: schema-snapshot" in out
    assert (
        "schema/postgresql.txt: not checked; give --postgresql SERVER_URL or set "
        "TEST_POSTGRESQL_URL" in out
    )
    assert snapshot.main([]) == 0
    out = capsys.readouterr().out
    assert "schema/sqlite.txt: written" in out
    # A committed server snapshot the command could not rewrite is named: CI,
    # which has the servers, would fail on it.
    assert (
        "schema/mysql.txt: not rewritten; give --mysql SERVER_URL or set "
        "TEST_MYSQL_URL" in out
    )
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


@pytest.mark.parametrize("backend", configured_backends()[1:])
def test_the_tests_server_is_snapshotted_without_an_option(
    backend, tmp_path, monkeypatch, capsys
):
    """With the tests' variable set (README, Tests), ``schema-snapshot`` alone
    rewrites that server's snapshot too, so that the README's one command keeps
    every committed file current."""
    for name in ("alembic", "schema"):
        shutil.copytree(
            ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(CONFIG, tmp_path / "alembic.ini")
    monkeypatch.chdir(tmp_path)
    for other, variable in SERVER_URL_VARIABLES.items():
        if other != backend:
            monkeypatch.delenv(variable, raising=False)
    stale = tmp_path / "schema" / f"{backend}.txt"
    stale.write_text("table users\n", encoding="utf-8")

    assert snapshot.main([]) == 0

    assert f"schema/{backend}.txt: written" in capsys.readouterr().out
    assert stale.read_text() == (ROOT / "schema" / f"{backend}.txt").read_text()


def test_a_tests_server_that_fails_is_named_and_nothing_is_written(
    tmp_path, monkeypatch, capsys
):
    """The tests' variable names a server that refuses connections: one line
    naming the variable, exit 2, and not one file rewritten, SQLite's included."""
    for name in ("alembic", "schema"):
        shutil.copytree(
            ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(CONFIG, tmp_path / "alembic.ini")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TEST_MYSQL_URL", raising=False)
    monkeypatch.setenv("TEST_POSTGRESQL_URL", "postgresql://root:s3cret@127.0.0.1:1/x")
    stale = tmp_path / "schema" / "sqlite.txt"
    stale.write_text("table users\n", encoding="utf-8")

    assert snapshot.main([]) == 2

    err = capsys.readouterr().err
    assert err.startswith("schema-snapshot: error: postgresql (TEST_POSTGRESQL_URL): ")
    assert err.count("\n") == 1
    assert "s3cret" not in err
    assert stale.read_text(encoding="utf-8") == "table users\n"
