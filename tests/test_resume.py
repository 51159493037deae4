"""A deploy cut short in the middle of a revision can be run again (docs/production.md,
promise 2): ``kill -9`` after each statement of a revision
of four DDL statements and two data steps, and a connection reset by the server.

MariaDB/MySQL commits each DDL statement as it runs: the rerun resumes after the
statements the journal says ran (``journal.py``), and the schema and rows end up as
an uninterrupted run leaves them. PostgreSQL and SQLite roll the revision back whole:
a kill leaves nothing of it, and the rerun runs it from the start.
"""

import signal

import pytest
import sqlalchemy as sa
from test_production import EXTRA_REVISION, make_project

from conftest import configured_backends
from tools.snapshot import schema_text

# Four DDL statements and two data steps; the test's listener, registered by the
# revision itself, kills the process (or has the server reset its connection) once
# the revision's STOP_AFTER-th statement has run and been journaled.
CUT_SHORT = """
import signal

def stop(conn, cursor, statement, *args):
    if "acc_" not in statement and "nickname" not in statement:
        return
    stop.count += 1
    if stop.count != int(os.environ.get("STOP_AFTER", "0")):
        return
    if os.environ.get("STOP_BY") == "reset":
        killer = sa.create_engine(conn.engine.url)
        with killer.connect() as other:
            other.exec_driver_sql(f"KILL CONNECTION {conn.connection.thread_id()}")
        killer.dispose()
    else:
        os.kill(os.getpid(), signal.SIGKILL)

stop.count = 0
sa.event.listen(op.get_bind(), "after_cursor_execute", stop)
op.create_table(
    "acc_notes",
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("note", sa.String(40), nullable=False),
)
op.execute("INSERT INTO acc_notes (id, note) VALUES (1, 'seeded once')")
op.add_column("users", sa.Column("nickname", sa.String(40)))
op.create_index("ix_users_nickname", "users", ["nickname"])
op.execute("UPDATE users SET nickname = username")
op.create_table("acc_tags", sa.Column("id", sa.Integer, primary_key=True))
sa.event.remove(op.get_bind(), "after_cursor_execute", stop)
"""
STATEMENTS = 6

# A kill after each statement, on every database: MariaDB resumes after what it
# committed; PostgreSQL and SQLite roll the whole revision back, wherever it stopped.
CASES = [
    (backend, stop)
    for backend in configured_backends()
    for stop in range(1, STATEMENTS + 1)
]


@pytest.fixture
def uninterrupted(tmp_path_factory, history):
    """The schema text an uninterrupted run of the revision leaves, per backend."""
    cache = {}

    def schema_after_a_clean_run(backend: str, url_of) -> str:
        if backend not in cache:
            with url_of(tmp_path_factory.mktemp("clean") / "clean.sqlite") as url:
                project = prepared(tmp_path_factory.mktemp("clean"), url, history)
                assert project.alembic("upgrade", "head").returncode == 0
                cache[backend] = schema_text(project.engine, EXTRA_REVISION)
                project.engine.dispose()
        return cache[backend]

    return schema_after_a_clean_run


def prepared(path, url, history):
    """A copy of the project at its head with one user, and the revision to cut."""
    project = make_project(path, url, history)
    project.migrate("upgrade", project.head)
    project.query_in_transaction(
        "INSERT INTO users (username, email, display_name) VALUES ('ada', 'a@x', 'Ada')"
    )
    project.write_revision(CUT_SHORT)
    return project


@pytest.mark.parametrize(("backend", "stop"), CASES)
def test_a_deploy_killed_after_any_statement_can_be_rerun(
    backend, stop, tmp_path, history, uninterrupted
):
    from conftest import fresh_url

    def url_of(path):
        return fresh_url(backend, path)

    with url_of(tmp_path / "test.sqlite") as url:
        project = prepared(tmp_path / "project", url, history)
        tables_before = project.tables()

        killed = project.alembic_process("upgrade", "head", STOP_AFTER=str(stop))

        assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
        project.wait_until_run_lock_free()
        assert project.current() == project.head
        if backend != "mysql":  # transactional DDL: nothing of the revision is left
            assert project.tables() == tables_before
            columns = sa.inspect(project.engine).get_columns("users")
            assert "nickname" not in {column["name"] for column in columns}

        rerun = project.alembic("upgrade", "head")

        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
        resumed = "Resuming the revision after" in rerun.stderr
        assert resumed == (backend == "mysql"), rerun.stderr
        assert project.current() == EXTRA_REVISION
        assert schema_text(project.engine, EXTRA_REVISION) == uninterrupted(
            backend, url_of
        )
        assert project.query("SELECT id, note FROM acc_notes") == [(1, "seeded once")]
        assert project.query("SELECT nickname FROM users") == [("ada",)]
        assert "acc_notes_journal" not in project.tables()
        assert "alembic_version_journal" not in project.tables()
        project.engine.dispose()


@pytest.mark.parametrize(
    "stop", [2, 4], ids=["after the first data step", "after the index"]
)
@pytest.mark.skipif("mysql" not in configured_backends(), reason="MariaDB only")
def test_a_connection_reset_mid_revision_can_be_rerun(
    stop, tmp_path, history, uninterrupted
):
    """The server resets the migrator's connection (``KILL CONNECTION``): one line
    naming what was kept; the rerun resumes after it and reaches head."""
    from conftest import fresh_url

    def url_of(path):
        return fresh_url("mysql", path)

    with url_of(tmp_path / "x") as url:
        project = prepared(tmp_path / "project", url, history)

        failed = project.alembic(
            "upgrade", "head", STOP_AFTER=str(stop), STOP_BY="reset"
        )

        assert failed.returncode != 0
        [line] = [line for line in failed.stdout.splitlines() if "FAILED" in line]
        assert "Traceback" not in failed.stderr
        project.wait_until_run_lock_free()
        assert project.current() == project.head
        rerun = project.alembic("upgrade", "head")
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
        assert "Resuming the revision after" in rerun.stderr
        assert schema_text(project.engine, EXTRA_REVISION) == uninterrupted(
            "mysql", url_of
        )
        assert project.query("SELECT id, note FROM acc_notes") == [(1, "seeded once")]
        project.engine.dispose()


# A revision whose last DDL statement fails (an index on a column that is not
# there): on a fixed copy, the index names the column that is.
FAILS_IN_DDL = """
op.create_table("acc_labels", sa.Column("id", sa.Integer, primary_key=True))
op.execute("INSERT INTO acc_labels (id) VALUES (1)")
op.add_column("acc_labels", sa.Column("color", sa.String(20)))
op.create_index("ix_acc_labels_color", "acc_labels", ["colour"])
"""


@pytest.fixture
def mariadb_project(tmp_path, history):
    """A copy of the project at its head on a fresh MariaDB database."""
    if "mysql" not in configured_backends():
        pytest.skip("MariaDB only: TEST_MYSQL_URL is not set")
    from conftest import fresh_url

    with fresh_url("mysql", tmp_path / "unused") as url:
        project = make_project(tmp_path / "project", url, history)
        project.migrate("upgrade", project.head)
        yield project
        project.engine.dispose()


def test_a_failed_ddl_statement_fixed_is_run_on_the_rerun(mariadb_project):
    """The statement that failed never ran: the rerun runs the fixed one in its
    place, after skipping the three that ran, and the data step is written once."""
    project = mariadb_project
    project.write_revision(FAILS_IN_DDL)
    failed = project.alembic("upgrade", "head")
    assert failed.returncode != 0
    assert "Key column 'colour' doesn't exist" in failed.stdout

    project.write_revision(FAILS_IN_DDL.replace('["colour"]', '["color"]'))
    rerun = project.alembic("upgrade", "head")

    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "statements that ran already are skipped (3)" in rerun.stderr
    assert project.current() == EXTRA_REVISION
    indexes = sa.inspect(project.engine).get_indexes("acc_labels")
    assert [index["column_names"] for index in indexes] == [["color"]]
    assert project.query("SELECT id FROM acc_labels") == [(1,)]


def test_a_rerun_that_differs_from_the_cut_run_is_refused(mariadb_project):
    """A statement that ran, changed since, and a downgrade after a cut upgrade:
    each is one line naming what ran (the statement cut as it ran included) and
    the journal's own table; nothing more is run."""
    project = mariadb_project
    project.write_revision(CUT_SHORT)
    killed = project.alembic_process(
        "upgrade", "head", STOP_AFTER="3"
    )  # after ADD COLUMN
    assert killed.returncode == -signal.SIGKILL
    project.wait_until_run_lock_free()

    project.write_revision(CUT_SHORT.replace("String(40)))", "String(50)))"))
    changed = project.alembic("upgrade", "head")
    downgrade = project.alembic("downgrade", "-1")

    for result in (changed, downgrade):
        assert result.returncode != 0
        [line] = [line for line in result.stdout.splitlines() if "FAILED" in line]
        assert f"a run from {project.head} was cut short on MariaDB/MySQL after 3" in (
            line
        )
        assert "CREATE TABLE acc_notes" in line
        assert "INSERT INTO acc_notes" in line
        assert "ALTER TABLE users ADD COLUMN nickname VARCHAR(40)" in line
        assert "DELETE FROM alembic_version_journal WHERE step = " in line
        assert "Traceback" not in result.stderr
    assert "at its statement 3" in changed.stdout
    assert "at its statement 1" in downgrade.stdout
    assert project.current() == project.head
