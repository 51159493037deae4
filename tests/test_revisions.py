"""The revision history: its graph, and every revision up, down and up again."""

import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.util import CommandError

from app.db import db
from conftest import (
    ROOT,
    SECTIONS,
    Database,
    alembic_config,
    alembic_runner,
    copy_project,
    insert_sample_rows,
    kept,
    migrate_directly,
    revisions,
    script_directory,
)

# Each database's history (alembic.ini's sections): the default one and the audit
# bind's, each checked on its own.
each_history = pytest.mark.parametrize("section", SECTIONS)


@each_history
def test_history_has_one_head_and_one_base(section):
    script = script_directory(section)
    assert len(script.get_heads()) == 1
    assert len(script.get_bases()) == 1
    assert revisions(section)[0].down_revision is None


@each_history
def test_history_is_a_chain_without_gaps(section):
    history = revisions(section)
    ids = [revision.revision for revision in history]
    for parent, child in zip(history, history[1:], strict=False):
        assert child.down_revision == parent.revision
    files = sorted(Path(script_directory(section).versions).glob("*.py"))
    assert len(files) == len(set(ids)) == len(ids)


@each_history
def test_revision_files_sort_in_history_order(section):
    folder = Path(script_directory(section).versions)
    files = sorted(path.name for path in folder.glob("*.py"))
    assert [name.split("-")[1].split("_")[0] for name in files] == [
        revision.revision for revision in revisions(section)
    ]


def test_each_history_has_its_own_folder_and_version_table():
    folders = {script_directory(section).versions for section in SECTIONS}
    assert folders == {
        str(ROOT / "alembic" / "versions"),
        str(ROOT / "alembic" / "binds" / "audit"),
    }
    audit = alembic_config(section="audit")
    assert audit.get_main_option("version_table") == "alembic_version_audit"


def test_check_refuses_a_database_behind_head(database, history):
    database.upgrade(history[-2].revision)
    with pytest.raises(CommandError, match="Target database is not up to date"):
        command.check(alembic_config(database.engine))


@each_history
def test_stairway_up_down_up_then_head_matches_the_models(database, section):
    """Every revision up, down and up again, on one connection and the revisions read
    once: without env.py per step, so that it stays fast on a long history
    (test_data.py runs each revision through env.py). At head, ``alembic check``
    (env.py's compare options) finds the schema equal to the models; it raises,
    listing the differences, when they differ. Each database's history on its own."""
    history = revisions(section)
    with database.engine.connect() as connection:
        # Commits need not wait for the disk on a throw-away database (a third of the
        # stairway's time on SQLite); MariaDB has no such session setting.
        if database.backend == "sqlite":
            connection.exec_driver_sql("PRAGMA synchronous = OFF")
            # As env.py does: batch mode's table copies must not cascade.
            connection.exec_driver_sql("PRAGMA foreign_keys = OFF")
        elif database.backend == "postgresql":
            connection.exec_driver_sql("SET synchronous_commit = off")
        connection.commit()  # else every revision would run inside this transaction
        for revision in history:
            this, parent = revision.revision, revision.down_revision
            step = {"section": section}
            assert migrate_directly(connection, this, **step) == this
            down = migrate_directly(connection, parent or "base", down=True, **step)
            assert down == parent
            assert migrate_directly(connection, this, **step) == this
        command.check(alembic_config(connection, section))
    at_head = Database(database.url, database.engine, section=section)
    assert at_head.current() == history[-1].revision


def test_downgrade_to_base_leaves_only_the_version_and_serving_tables(database):
    database.upgrade("head")
    assert database.tables() == {*database.kit_tables(), *db.metadata.tables}
    database.downgrade("base")
    assert database.tables() == database.kit_tables()
    assert database.current() is None
    if database.backend == "postgresql":
        assert sa.inspect(database.engine).get_sequence_names() == []


def test_a_handed_in_connection_is_used_and_left_to_the_caller(database, history):
    """Alembic's cookbook: a Connection inside the caller's transaction. The last
    revision runs on it (on SQLite it may rebuild a table), and every row stays."""
    database.upgrade(history[-2].revision if len(history) > 1 else "base")
    insert_sample_rows(database)
    before = database.rows()
    with database.engine.connect() as connection:
        connection.begin()
        command.upgrade(alembic_config(connection), "head")
        connection.commit()
    assert database.current() == history[-1].revision
    was, now = kept(before, database.rows())
    assert now == was


# The fixture project's revision that rebuilds the users table on SQLite (batch
# mode's table copy), and a script that runs it on a connection that has written.
REBUILDS_USERS = "bb4b390c7d31"
WRITTEN_THEN_UPGRADED = """
import sys
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

import app.db  # as in the app: SQLite enforces foreign keys on its connections

engine = sa.create_engine(sys.argv[1])
with engine.connect() as connection:
    connection.begin()
    connection.exec_driver_sql(
        "INSERT INTO users (id, username, email) VALUES (1, 'ada', 'ada@x.org')"
    )
    config = Config("alembic.ini")
    config.attributes["connection"] = connection
    try:
        command.upgrade(config, "head")
    except Exception as error:
        print(type(error).__name__, error)
    connection.rollback()
"""


def test_a_connection_that_has_written_cannot_rebuild_sqlite_tables(
    tmp_path, project_history
):
    """SQLite cannot turn foreign keys off once its transaction has begun: rather than
    let the users table rebuild cascade into posts, env.py refuses with one line.
    (SQLite only: the other databases alter tables in place.)"""
    project = copy_project(tmp_path / "project")
    url = sa.URL.create("sqlite", database=str(tmp_path / "test.sqlite"))
    alembic = alembic_runner(project, url)
    parent = next(r for r in project_history if r.revision == REBUILDS_USERS)
    assert alembic("upgrade", parent.down_revision).returncode == 0

    result = subprocess.run(
        [sys.executable, "-c", WRITTEN_THEN_UPGRADED, url.render_as_string()],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.stdout.startswith("CommandError "), result.stdout + result.stderr
    assert "cannot turn foreign keys off" in result.stdout
    assert alembic("current").stdout.splitlines()[1] == parent.down_revision
