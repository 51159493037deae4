"""The promises ``alembic/env.py`` keeps in production (docs/production.md), proved
with the ``alembic`` command line on a copy of the project whose history gets one
extra revision: one migrator at a time, a failing revision leaves the last good one,
a killed migrator leaves a clean database, and table locks held by others make a
revision give up instead of stalling the application. Concurrent and killed
migrators are processes of their own; the other commands run in the test's process
(``in_process.py``)."""

import hashlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext

from conftest import (
    SERVER_URL_VARIABLES,
    configured_backends,
    copy_project,
    database_url_from,
)
from in_process import run_alembic
from migrators import migrators
from server_databases import fresh_server_database
from tools.databases import throwaway_database

# Trials of the concurrent-migrators test, per database and starting point: 2 for a
# quick local run; .ci/run sets 10, the number the promise is proved with.
STRESS_TRIALS = int(os.environ.get("MIGRATION_STRESS_TRIALS", "2"))

EXTRA_REVISION = "c0ffee5a1e00"

# The extra revision's file: ``{body}`` is its upgrade, indented by four spaces.
REVISION_TEMPLATE = '''\
"""Extra revision of the production tests

Revision ID: {revision}
Revises: {down_revision}
"""

import os
import time

import sqlalchemy as sa
from alembic import op

revision = "{revision}"
down_revision = "{down_revision}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """What the test needs."""
{body}


def downgrade() -> None:
    """Drop what upgrade made."""
    op.execute("DROP TABLE IF EXISTS migration_log")
'''

# A data step: 100 rows that must be written once, however many migrators start.
SEED_ROWS = """
op.create_table(
    "migration_log",
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("note", sa.String(40), nullable=False),
)
log = sa.table("migration_log", sa.column("note"))
op.bulk_insert(log, [{"note": f"row {n}"} for n in range(100)])
"""

# DDL and a data step, then a failure: on a fixed copy, the last line becomes a comment.
FAILING = """
op.create_table("migration_log", sa.Column("id", sa.Integer, primary_key=True))
with op.batch_alter_table("users") as batch_op:
    batch_op.add_column(sa.Column("nickname", sa.String(40)))
    batch_op.create_index("ix_users_nickname", ["nickname"])
    batch_op.alter_column("email", existing_type=sa.String(120), type_=sa.String(200))
op.execute("UPDATE users SET display_name = 'changed'")
op.execute("SELECT no_such_column FROM users")  # the fault
"""

# A data step, then a long one (as long as SLOW_STEP_SECONDS says) to be killed in.
SLOW = """
op.execute("UPDATE users SET display_name = 'changed'")
seconds = float(os.environ.get("SLOW_STEP_SECONDS", "0"))
if op.get_bind().dialect.name == "postgresql":
    op.execute(f"SELECT pg_sleep({seconds})")
elif op.get_bind().dialect.name in ("mysql", "mariadb"):
    op.execute(f"DO SLEEP({seconds})")
else:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        op.execute("UPDATE users SET email = email")
"""

# Takes a table lock that another connection may hold.
ALTER_USERS = """
op.add_column("users", sa.Column("nickname", sa.String(40)))
"""


@dataclass
class Project:
    """A copy of the project with one extra revision, on a fresh database."""

    path: Path
    url: sa.URL
    engine: sa.Engine
    head: str

    def write_revision(self, body: str) -> None:
        """(Re)write the extra revision, on top of the project's head."""
        text = REVISION_TEMPLATE.format(
            revision=EXTRA_REVISION,
            down_revision=self.head,
            body=textwrap.indent(body.strip(), "    "),
        )
        versions = self.path / "alembic" / "versions"
        (versions / "extra.py").write_text(text)
        # Python's bytecode of the file written before: a file rewritten within
        # the same second at the same size reads as unchanged to Python, which
        # would run the old revision (where PYTHONDONTWRITEBYTECODE is unset).
        shutil.rmtree(versions / "__pycache__", ignore_errors=True)

    def environment(self, **variables: str) -> dict[str, str]:
        """The environment ``alembic`` runs with: this database, and ``variables``."""
        url = self.url.render_as_string(hide_password=False)
        return {**os.environ, "DATABASE_URL": url, **variables}

    def start(self, *args: str, **variables: str) -> subprocess.Popen:
        """Start ``alembic <args>`` as a process of its own, as a user does, with
        extra environment variables: for migrators run at once, or killed."""
        return subprocess.Popen(
            [sys.executable, "-m", "alembic", *args],
            cwd=self.path,
            env=self.environment(**variables),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def alembic(self, *args: str, **variables: str) -> subprocess.CompletedProcess:
        """Run ``alembic <args>`` to the end (in the test's process)."""
        return run_alembic(args, self.path, self.environment(**variables))

    def alembic_process(
        self, *args: str, **variables: str
    ) -> subprocess.CompletedProcess:
        """Run ``alembic <args>`` to the end as a process of its own: for a run that
        ends its process (``kill -9``)."""
        process = self.start(*args, **variables)
        stdout, stderr = process.communicate(timeout=120)
        return subprocess.CompletedProcess(args, process.returncode, stdout, stderr)

    def migrate(self, direction: str, revision: str) -> None:
        """``alembic upgrade|downgrade <revision>`` in this process, quicker than the
        command line, for setting the stage."""
        config = Config(self.path / "alembic.ini")
        config.attributes["connection"] = self.engine
        getattr(command, direction)(config, revision)

    def current(self) -> str | None:
        """The revision the database is stamped with."""
        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def query(self, sql: str) -> list[tuple]:
        """The rows of a query, run on a connection of the test's own."""
        with self.engine.connect() as connection:
            return [tuple(row) for row in connection.exec_driver_sql(sql)]

    def query_in_transaction(self, *statements: str) -> None:
        """Run statements in one transaction, and commit."""
        with self.engine.begin() as connection:
            for statement in statements:
                connection.exec_driver_sql(statement)

    @contextmanager
    def holding_run_lock(self):
        """Hold the database's run lock, as another migrator would (see env.py)."""
        if self.backend == "sqlite":
            connection = sqlite3.connect(self.url.database, isolation_level=None)
            connection.execute("BEGIN IMMEDIATE")
            yield
            connection.close()
            return
        if self.backend == "postgresql":
            lock = f"SELECT pg_advisory_lock({self.lock_key})"
            unlock = f"SELECT pg_advisory_unlock({self.lock_key})"
        else:
            lock = f"DO GET_LOCK('{self.lock_name}', 0)"
            unlock = f"DO RELEASE_LOCK('{self.lock_name}')"
        with self.engine.connect() as connection:
            connection.exec_driver_sql(lock)
            yield
            # The lock belongs to the session, which the pool keeps open.
            connection.exec_driver_sql(unlock)

    @property
    def lock_key(self) -> int:
        """PostgreSQL's advisory lock key for this database's run lock."""
        digest = hashlib.sha256(f"{self.url.database}.alembic_version".encode())
        return int.from_bytes(digest.digest()[:8], "big", signed=True)

    @property
    def lock_name(self) -> str:
        """MariaDB's lock name for this database's run lock (hashed past MySQL's 64
        characters)."""
        name = f"alembic.{self.url.database}.alembic_version"
        if len(name) > 64:
            name = f"alembic.{hashlib.sha256(name.encode()).hexdigest()[:56]}"
        return name

    def run_lock_is_held(self) -> bool:
        """Whether a session holds this database's run lock (see env.py)."""
        if self.backend == "sqlite":
            try:
                connection = sqlite3.connect(self.url.database, timeout=0)
                connection.execute("BEGIN IMMEDIATE")
                connection.rollback()
                return False
            except sqlite3.OperationalError:
                return True
            finally:
                connection.close()
        if self.backend == "postgresql":
            low_bits = self.lock_key & 0xFFFFFFFF
            sql = (
                "SELECT count(*) FROM pg_locks"
                f" WHERE locktype = 'advisory' AND objid = {low_bits}"
            )
        else:
            sql = f"SELECT IS_USED_LOCK('{self.lock_name}') IS NOT NULL"
        return bool(self.query(sql)[0][0])

    def wait_until_run_lock_free(self) -> None:
        """Wait for the run lock to be released (a killed session's server process
        ends when it next checks its client), a minute at most."""
        deadline = time.monotonic() + 60
        while self.run_lock_is_held():
            assert time.monotonic() < deadline, "the run lock is still held"
            time.sleep(0.2)

    def tables(self) -> set[str]:
        """The names of the tables in the database."""
        return set(sa.inspect(self.engine).get_table_names())

    @property
    def backend(self) -> str:
        """``sqlite``, ``postgresql`` or ``mysql`` (MariaDB included)."""
        name = self.engine.dialect.name
        return "mysql" if name == "mariadb" else name


def make_project(path: Path, url: sa.URL, history: list) -> Project:
    """Copy the project into ``path``, on the database at ``url``."""
    copy_project(path, reference=True)
    engine = sa.create_engine(url)
    return Project(path, url, engine, head=history[-1].revision)


@pytest.fixture
def project(tmp_path, fresh_database_url, history):
    """A copy of the project on a fresh database of each configured backend."""
    project = make_project(tmp_path, fresh_database_url, history)
    yield project
    project.engine.dispose()


@pytest.fixture(params=[name for name in configured_backends() if name != "sqlite"])
def server_project(request, tmp_path, history):
    """A copy of the project on a fresh database of each configured server (table
    locks and their timeouts are a server matter: SQLite locks the whole file)."""
    server_url = database_url_from(SERVER_URL_VARIABLES[request.param])
    with fresh_server_database(server_url) as url:
        project = make_project(tmp_path, url, history)
        yield project
        project.engine.dispose()


def test_concurrent_migrators_run_one_at_a_time(project):
    """Four migrators at once, from base and from one revision behind: all succeed,
    and the data step's rows are written once. The four are processes of their own,
    told to start at the same moment (``migrators.py``).

    Without the run lock (``RUN_LOCKS`` bypassed in env.py) one trial from base fails
    on every database: PostgreSQL ``duplicate key value violates unique constraint
    "pg_type_typname_nsp_index"``, MariaDB ``Table 'posts' already exists`` and
    ``Duplicate entry 'f800a65a1a3a' for key 'PRIMARY'``, SQLite ``table
    alembic_version already exists``.
    """
    project.write_revision(SEED_ROWS)
    with migrators(project.path, project.environment()) as run_together:
        for trial in range(STRESS_TRIALS):
            for start in ("base", project.head):
                project.migrate("downgrade", "base")
                project.migrate("upgrade", start)

                results = run_together("upgrade", "head")

                for result in results:
                    assert result.returncode == 0, (trial, start, result.stderr)
                    assert "ERROR" not in result.stderr
                assert project.current() == EXTRA_REVISION
                assert project.query("SELECT count(*) FROM migration_log") == [(100,)]


def test_failing_revision_leaves_the_last_good_revision(project):
    """A revision fails after DDL and a data step: the database stays at the previous
    revision with its rows unchanged; once fixed, a rerun reaches head.

    MariaDB commits each DDL statement as it runs: there the failing revision's row
    changes and version bump are rolled back, its DDL statements are not, and the
    rerun of the fixed revision resumes after them (README).
    """
    project.migrate("upgrade", project.head)
    project.query_in_transaction(
        "INSERT INTO users (username, email, display_name) VALUES ('ada', 'a@x', 'Ada')"
    )
    rows_before = project.query("SELECT id, username, email, display_name FROM users")
    project.write_revision(FAILING)

    result = project.alembic("upgrade", "head")

    assert result.returncode != 0
    [failed] = [line for line in result.stdout.splitlines() if "FAILED" in line]
    assert failed.startswith("FAILED: a migration statement failed: ")
    assert "no_such_column" in failed
    assert (
        f"The database is at {project.head}, the last revision that completed"
    ) in failed
    assert failed.endswith("Run with --raiseerr for the traceback")
    assert "Traceback" not in result.stderr
    assert "no_such_column" not in result.stderr  # printed once, not logged too
    assert project.current() == project.head
    assert (
        project.query("SELECT id, username, email, display_name FROM users")
        == rows_before
    )
    assert not {t for t in project.tables() if t.startswith("_alembic_tmp")}
    columns = {c["name"] for c in sa.inspect(project.engine).get_columns("users")}
    if project.backend == "mysql":
        assert "migration_log" in project.tables() and "nickname" in columns
        assert (
            "MariaDB/MySQL kept these statements of the failed revision, and a rerun"
            " resumes after them (fix what failed, not them): CREATE TABLE"
            " migration_log ( id INTEGER NOT NULL"
        ) in result.stdout
        assert "ALTER TABLE users ADD COLUMN nickname VARCHAR(40)" in result.stdout
    else:
        assert "migration_log" not in project.tables() and "nickname" not in columns
        indexes = sa.inspect(project.engine).get_indexes("users")
        assert "ix_users_nickname" not in {index["name"] for index in indexes}

    project.write_revision(FAILING.replace('op.execute("SELECT no_such', "# ("))
    rerun = project.alembic("upgrade", "head")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert project.current() == EXTRA_REVISION
    assert project.query("SELECT display_name FROM users") == [("changed",)]
    # MariaDB: the rerun resumed after the DDL that ran, and ran the rest.
    assert ("Resuming the revision after" in rerun.stderr) == (
        project.backend == "mysql"
    )


def test_killed_migrator_leaves_a_clean_database(project):
    """``kill -9`` in the middle of a long revision: the run lock is free again, the
    database is at the previous revision with its rows unchanged, a rerun succeeds."""
    project.migrate("upgrade", project.head)
    project.query_in_transaction(
        "INSERT INTO users (username, email, display_name) VALUES ('ada', 'a@x', 'Ada')"
    )
    project.write_revision(SLOW)
    migrator = project.start("upgrade", "head", SLOW_STEP_SECONDS="60")
    for line in migrator.stderr:
        if f"-> {EXTRA_REVISION}" in line:
            break
    else:
        migrator.communicate(timeout=30)
        pytest.fail(
            f"the migrator ended (exit {migrator.returncode}) before running the "
            "slow revision: nothing was killed"
        )
    # The revision's data step has run; its long step is under way.
    time.sleep(1)
    migrator.send_signal(signal.SIGKILL)
    migrator.communicate(timeout=30)
    assert migrator.returncode == -signal.SIGKILL

    project.wait_until_run_lock_free()
    assert project.current() == project.head
    assert project.query("SELECT display_name FROM users") == [("Ada",)]
    rerun = project.alembic("upgrade", "head")
    assert rerun.returncode == 0, rerun.stderr
    assert project.query("SELECT display_name FROM users") == [("changed",)]


def hold_users_table(project: Project) -> sa.Connection:
    """A second connection, in a transaction that holds a lock on ``users`` that
    ``ALTER TABLE users`` waits for, as a busy application can."""
    connection = project.engine.connect()
    if project.backend == "postgresql":
        connection.exec_driver_sql("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
    else:
        connection.exec_driver_sql("SELECT * FROM users FOR UPDATE")
    return connection


def seconds_from_revision_start_to_exit(project: Project, **variables: str) -> float:
    """Run ``alembic upgrade head``, expected to fail on the extra revision, and
    return the seconds from the line announcing that revision to the process's exit:
    the revision's own wait, without the process's start-up."""
    migrator = project.start("upgrade", "head", **variables)
    for line in migrator.stderr:
        if f"-> {EXTRA_REVISION}" in line:
            started = time.monotonic()
            break
    else:
        _, stderr = migrator.communicate(timeout=30)
        pytest.fail(f"the extra revision never started:\n{stderr}")
    migrator.communicate(timeout=120)
    waited = time.monotonic() - started
    assert migrator.returncode != 0, "the blocked revision did not fail"
    return waited


def test_busy_table_makes_the_revision_give_up(server_project):
    """With another connection holding a lock on ``users``, the revision that alters
    it gives up after MIGRATION_LOCK_TIMEOUT (and its retries), is rolled back, and
    says so; the database stays at the previous revision."""
    project = server_project
    project.migrate("upgrade", project.head)
    project.write_revision(ALTER_USERS)
    holder = hold_users_table(project)
    try:
        result = project.alembic(
            "upgrade", "head", MIGRATION_LOCK_TIMEOUT="1", MIGRATION_LOCK_RETRIES="1"
        )
        waited = seconds_from_revision_start_to_exit(
            project, MIGRATION_LOCK_TIMEOUT="1", MIGRATION_LOCK_RETRIES="0"
        )
    finally:
        holder.close()

    # The promise is "fails within lock_timeout plus one second"; the margin here is
    # wider, for a loaded machine, but far below the wait of an unbounded lock.
    assert waited < 1 + 5, f"the blocked revision ran for {waited:.1f} s before failing"
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "A table lock is busy; trying again (1 of 1)" in result.stderr
    assert "FAILED: a migration statement waited too long for a table lock" in (
        result.stdout
    )
    assert f"The database is at {project.head}, the last revision" in result.stdout
    assert project.current() == project.head
    rerun = project.alembic("upgrade", "head")
    assert rerun.returncode == 0, rerun.stderr
    assert project.current() == EXTRA_REVISION
    # The rerun ran the statement that gave up (on MariaDB the journal holds the
    # rows of both attempts: neither may pass for a statement that ran).
    columns = {c["name"] for c in sa.inspect(project.engine).get_columns("users")}
    assert "nickname" in columns


def test_run_lock_wait_is_bounded(project):
    """A migrator that waits for another one longer than MIGRATION_RUN_LOCK_WAIT gives
    up with one clear line, having changed nothing."""
    with project.holding_run_lock():
        result = project.alembic("upgrade", "head", MIGRATION_RUN_LOCK_WAIT="1")
        at_once = project.alembic("upgrade", "head", MIGRATION_RUN_LOCK_WAIT="0")
        # Commands that only read take no lock: they answer during a migration.
        current = project.alembic("current", MIGRATION_RUN_LOCK_WAIT="1")

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    # It said it was waiting, and for how long, before it gave up.
    holders = (
        "another migration or a writer of this database holds it"
        if project.backend == "sqlite"
        else "another migration of this database holds it (or one whose network "
        "was cut, until the server ends its session)"
    )
    assert (
        f"Waiting for the run lock: {holders}; giving up after "
        "MIGRATION_RUN_LOCK_WAIT (1 s)"
    ) in result.stderr
    # Told not to wait, it does not say it waits.
    assert at_once.returncode != 0
    assert "FAILED: another migration is running" in at_once.stdout
    assert "Waiting for the run lock" not in at_once.stderr
    assert (
        "FAILED: another migration is running on this database, for longer than "
        "MIGRATION_RUN_LOCK_WAIT allows; let it finish, then run this one again"
    ) in result.stdout
    assert project.current() is None
    assert current.returncode == 0, current.stderr


def test_a_migrator_that_finds_the_run_lock_free_does_not_say_it_waits(project):
    result = project.alembic("upgrade", "head")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Waiting for the run lock" not in result.stderr
    assert project.current() == project.head


# The longest database names the servers allow: PostgreSQL 63 bytes, MariaDB 64.
LONGEST_NAME = {"postgresql": 63, "mysql": 64}


@pytest.mark.parametrize(
    "backend", [name for name in configured_backends() if name != "sqlite"]
)
def test_run_lock_works_on_the_longest_database_name(tmp_path, history, backend):
    """The run lock's name includes the database's; MySQL refuses lock names over 64
    characters, so a long one is hashed. On a database with the longest name its
    server allows, a migrator finds the lock another one holds, and then migrates."""
    server_url = database_url_from(SERVER_URL_VARIABLES[backend])
    prefix = "m" * (LONGEST_NAME[backend] - len("_") - 12)  # + "_" + 12 hex digits
    with throwaway_database(server_url, prefix) as url:
        project = make_project(tmp_path, url, history)
        try:
            assert len(url.database) == LONGEST_NAME[backend]
            assert len(project.lock_name) <= 64
            with project.holding_run_lock():
                busy = project.alembic("upgrade", "head", MIGRATION_RUN_LOCK_WAIT="1")
            assert "FAILED: another migration is running" in busy.stdout
            result = project.alembic("upgrade", "head")
            assert result.returncode == 0, result.stdout + result.stderr
            assert project.current() == project.head
        finally:
            project.engine.dispose()


# A revision whose Python code pauses between two statements.
PAUSES = """
op.execute("UPDATE users SET display_name = 'changed'")
time.sleep(float(os.environ.get("PAUSE_SECONDS", "0")))
op.add_column("users", sa.Column("nickname", sa.String(40)))
"""


def test_a_pause_longer_than_the_network_timeout_is_explained(server_project):
    """The server ends a migrating session that waited MIGRATION_NETWORK_TIMEOUT
    for its next statement (the way it frees the run lock of a client gone quiet):
    a revision that pauses longer fails in one line that names the setting, and a
    rerun with it raised reaches head."""
    project = server_project
    project.migrate("upgrade", project.head)
    project.write_revision(PAUSES)

    paused = project.alembic(
        "upgrade", "head", MIGRATION_NETWORK_TIMEOUT="1", PAUSE_SECONDS="3"
    )

    assert paused.returncode != 0
    [line] = [line for line in paused.stdout.splitlines() if "FAILED" in line]
    assert line.startswith("FAILED: a migration statement failed: ")
    assert (
        "The server ended the session: if the revision's Python code paused longer "
        "than MIGRATION_NETWORK_TIMEOUT between two statements, raise it"
    ) in line
    assert "Traceback" not in paused.stderr
    rerun = project.alembic(
        "upgrade", "head", MIGRATION_NETWORK_TIMEOUT="10", PAUSE_SECONDS="3"
    )
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert project.query("SELECT display_name FROM users") == []
    assert project.current() == EXTRA_REVISION
