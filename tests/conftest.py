"""Fixtures: a fresh database for each configured backend, and helpers to migrate it.

SQLite always runs. PostgreSQL runs when ``TEST_POSTGRESQL_URL`` is set, MariaDB or
MySQL when ``TEST_MYSQL_URL`` is set: each is the URL of a server on which the tests
create throw-away databases and drop them afterwards. A configured server that does
not answer fails the tests; it is never skipped.
"""

import datetime
import decimal
import functools
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.config import Config
from alembic.operations import Operations
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from app import create_app
from app.db import db

# The ops revision files use beyond Alembic's own (op.create_enum_type, ...), which
# env.py registers: migrate_directly runs revisions without it.
from flask_alembic_kit import operations  # noqa: F401
from flask_alembic_kit.serving import kit_tables
from flask_alembic_kit.urls import database_url
from in_process import run_alembic
from server_databases import drop_free_databases, fresh_server_database

ROOT = Path(__file__).resolve().parent.parent

SERVER_URL_VARIABLES = {
    "postgresql": "TEST_POSTGRESQL_URL",
    "mysql": "TEST_MYSQL_URL",
}


def configured_backends() -> list[str]:
    """SQLite, then every server backend whose URL variable is set."""
    return ["sqlite"] + [
        name
        for name, variable in SERVER_URL_VARIABLES.items()
        if os.environ.get(variable)
    ]


# The alembic.ini section of each database's history: the default one's, and the
# audit bind's (docs/binds.md).
DEFAULT = "alembic"
AUDIT = "audit"
SECTIONS = (DEFAULT, AUDIT)


def alembic_config(
    connection: sa.Engine | sa.Connection | None = None, section: str = DEFAULT
) -> Config:
    """The project's ``alembic.ini`` (the ``section`` of one database's history),
    with a connection handed in when given."""
    config = Config(ROOT / "alembic.ini", ini_section=section)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@functools.cache
def script_directory(section: str = DEFAULT) -> ScriptDirectory:
    """The revisions of one database's history, read once per test run.

    ``command.upgrade`` reads every revision file again on each call; a stairway over
    n revisions makes 3n calls, so its cost would grow with the square of the history.
    """
    return ScriptDirectory.from_config(alembic_config(section=section))


@functools.cache
def version_table(section: str = DEFAULT) -> str:
    """The version table of one database's history."""
    config = alembic_config(section=section)
    return config.get_main_option("version_table", "alembic_version")


def revisions(section: str = DEFAULT) -> list:
    """Every revision of one database's history, from the first one to head."""
    return list(reversed(list(script_directory(section).walk_revisions())))


def planned_steps(target: str, down: bool, section: str = DEFAULT) -> Callable:
    """The ``fn`` Alembic calls with the current revision: the revisions to run to
    ``target``, planned as ``alembic.command`` plans them (``_upgrade_revs``)."""
    script = script_directory(section)

    def steps(current, context) -> list:
        """The revisions from ``current`` to ``target``."""
        if down:
            return script._downgrade_revs(target, current)
        return script._upgrade_revs(target, current)

    return steps


def migrate(
    connection: sa.Engine | sa.Connection,
    target: str,
    *,
    down=False,
    section: str = DEFAULT,
) -> None:
    """``alembic upgrade <target>`` (or ``downgrade``) on ``connection``, run through
    env.py (run lock, SQLite's foreign keys, timeouts) as the command runs it, but on
    the revisions read once. ``section``: the database's history (``alembic -n``)."""
    # A Config without a file: env.py then leaves logging alone (no fileConfig).
    config = Config(ini_section=section)
    config.set_main_option("version_table", version_table(section))
    config.attributes["connection"] = connection
    script = script_directory(section)
    steps = planned_steps(target, down, section)
    with EnvironmentContext(config, script, fn=steps, destination_rev=target):
        script.run_env()


def migrate_directly(
    connection: sa.Connection, target: str, *, down=False, section: str = DEFAULT
) -> str:
    """Run the revisions to ``target`` on ``connection`` directly, without env.py:
    one transaction per revision, as env.py configures it. For many steps on one
    connection (the stairway); the caller prepares the connection as env.py would.
    Returns the revision reached."""
    # Alembic leaves a transaction it did not begin to the caller, and would then
    # commit nothing.
    assert not connection.in_transaction()
    context = MigrationContext.configure(
        connection,
        opts={
            "script": script_directory(section),
            "fn": planned_steps(target, down, section),
            "transaction_per_migration": True,
            "version_table": version_table(section),
        },
    )
    with Operations.context(context), context.begin_transaction():
        context.run_migrations()
    reached = context.get_current_revision()
    connection.commit()  # ends the transaction the read began
    return reached


# The migration kit's own project (tests/fixture_project/README.md): frozen models
# and histories that the kit's tests change and assert, whatever the team does to
# app/ and alembic/versions/.
FIXTURE_PROJECT = ROOT / "tests" / "fixture_project"


def copy_project(destination: Path, *, reference: bool = False) -> Path:
    """Copy a project ``alembic`` runs in into ``destination``: the kit's fixture
    project (its app/ and histories), or with ``reference`` the reference app's,
    each with this repository's env.py, script.py.mako, alembic.ini,
    pyproject.toml and ``.gitignore``, for tests that change models or revisions."""
    ignore = shutil.ignore_patterns("__pycache__")
    source = ROOT if reference else FIXTURE_PROJECT
    for name in ("app", "alembic"):
        shutil.copytree(source / name, destination / name, ignore=ignore)
    for name in ("env.py", "script.py.mako"):
        shutil.copy(ROOT / "alembic" / name, destination / "alembic" / name)
    for name in ("alembic.ini", "pyproject.toml", ".gitignore"):
        shutil.copy(ROOT / name, destination / name)
    return destination


@functools.cache
def fixture_script_directory() -> ScriptDirectory:
    """The fixture project's default history, read once per test run."""
    return ScriptDirectory(
        str(ROOT / "alembic"),
        version_locations=[str(FIXTURE_PROJECT / "alembic" / "versions")],
    )


@pytest.fixture(scope="session")
def project_history() -> list:
    """The revisions of the fixture project that ``copy_project`` copies, from the
    first to head: the kit's tests add theirs after its head."""
    return list(reversed(list(fixture_script_directory().walk_revisions())))


# Where alembic_runner puts the audit database of a test that names none: each its
# own, never the instance folder's, removed when the test run ends.
AUDIT_FOLDERS = tempfile.TemporaryDirectory(prefix="audit-databases-")


@functools.cache
def audit_database_at_head() -> Path:
    """An SQLite audit database migrated to its head once per test run, which
    alembic_runner copies: a test about the default database finds the audit one
    ready, as after the user's own ``alembic upgrade head``."""
    path = Path(AUDIT_FOLDERS.name) / "head.sqlite"
    engine = sa.create_engine(sa.URL.create("sqlite", database=str(path)))
    try:
        migrate(engine, "head", section=AUDIT)
    finally:
        engine.dispose()
    return path


def audit_url_at_head() -> str:
    """The URL of an audit database of its own (an SQLite file) at its head."""
    audit = Path(tempfile.mkdtemp(dir=AUDIT_FOLDERS.name)) / "audit.sqlite"
    shutil.copy(audit_database_at_head(), audit)
    return f"sqlite:///{audit}"


def alembic_runner(
    cwd: Path, url: sa.URL | str, *, process: bool = False, **settings: str
) -> Callable[..., subprocess.CompletedProcess]:
    """A function running the ``alembic`` command line in ``cwd``, configured by
    ``DATABASE_URL`` (and any ``settings``, e.g. ``MIGRATION_*``) alone, as a user
    runs it. A string URL is passed as it is, so that tests can hand in malformed
    ones. Unless ``settings`` names ``DATABASE_URL_AUDIT``, the audit database is an
    SQLite file of the runner's own, at its head.

    The command runs inside the test process (``in_process.py``: the same output
    and exit code, without a second's start-up); ``process`` runs it as a process
    of its own, for what only a process shows (signals, a parent that waits)."""
    if isinstance(url, sa.URL):
        url = url.render_as_string(hide_password=False)
    settings.setdefault("DATABASE_URL_AUDIT", audit_url_at_head())
    environment = {**os.environ, **settings, "DATABASE_URL": url}

    def alembic(*args: str) -> subprocess.CompletedProcess:
        """Run ``alembic <args>`` and capture its exit code, stdout and stderr."""
        if not process:
            return run_alembic(args, cwd, environment)
        return subprocess.run(
            [sys.executable, "-m", "alembic", *args],
            cwd=cwd,
            env=environment,
            stdin=subprocess.DEVNULL,  # no terminal: nothing asks (``pytest -s``)
            capture_output=True,
            text=True,
            timeout=120,
        )

    return alembic


def failed_line(output: str) -> str:
    """The one line Alembic prints for a failed command, checking there is only one
    such line and no traceback."""
    assert "Traceback" not in output
    [line] = [line for line in output.splitlines() if line.startswith("FAILED: ")]
    return line


def assert_ruff_clean(path: Path, cwd: Path) -> None:
    """A revision file passes ruff's lint and format checks, with the settings of
    the project in ``cwd``."""
    ruff = [sys.executable, "-m", "ruff"]
    for check in (["check"], ["format", "--check"]):
        result = subprocess.run(
            [*ruff, *check, path], cwd=cwd, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout


@dataclass
class Database:
    """A fresh, empty database, and the Alembic commands that migrate it."""

    url: sa.URL
    engine: sa.Engine
    section: str = DEFAULT  # its history in alembic.ini (``alembic -n``)

    @property
    def backend(self) -> str:
        """``sqlite``, ``postgresql`` or ``mysql`` (MariaDB included)."""
        return (
            "mysql"
            if self.engine.dialect.name == "mariadb"
            else self.engine.dialect.name
        )

    def upgrade(self, revision: str = "head") -> None:
        """``alembic upgrade <revision>``, with the engine handed in."""
        migrate(self.engine, revision, section=self.section)

    def downgrade(self, revision: str) -> None:
        """``alembic downgrade <revision>``, with the engine handed in."""
        migrate(self.engine, revision, down=True, section=self.section)

    def current(self) -> str | None:
        """The revision the database is stamped with."""
        options = {"version_table": version_table(self.section)}
        with self.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts=options)
            return context.get_current_revision()

    def tables(self) -> set[str]:
        """The names of the tables in the database."""
        return set(sa.inspect(self.engine).get_table_names())

    def rows(self) -> dict[str, list[dict]]:
        """Every row of every table but the version table and its serving table
        (the kit's, ``serving.py``), sorted, as plain dicts."""
        metadata = sa.MetaData()
        metadata.reflect(self.engine)
        with self.engine.connect() as connection:
            return {
                table.name: [
                    dict(row)
                    for row in connection.execute(
                        table.select().order_by(*table.primary_key.columns)
                    ).mappings()
                ]
                for table in metadata.sorted_tables
                if table.name not in self.kit_tables()
            }

    def kit_tables(self) -> set[str]:
        """The tables Alembic and the kit keep: the version table, the serving
        table."""
        return kit_tables(version_table(self.section))


def model_column(table: sa.Table, name: str, section: str) -> sa.Column | None:
    """The models' own column of that name in that table, if they have it: its
    type says more than the reflected one (an Enum is a VARCHAR on SQLite)."""
    bind = None if section == DEFAULT else section
    models = db.metadatas.get(bind)
    model = models.tables.get(table.name) if models is not None else None
    return model.columns.get(name) if model is not None else None


def sample_value(column: sa.Column, n: int, connection: sa.Connection, typed=None):
    """A value that fits the column, distinct for each ``n``, generated from its
    type (the model's, ``typed``, when the models have the column; else the
    reflected one): any type a team is likely to give a column."""
    for foreign_key in column.foreign_keys:
        # The parent's n-th row (round the table): the rows of an association
        # table, whose key is two foreign keys, stay distinct.
        parent = foreign_key.column
        count = connection.execute(sa.select(sa.func.count(parent))).scalar_one()
        nth = sa.select(parent).order_by(parent).offset((n - 1) % max(count, 1))
        return connection.execute(nth.limit(1)).scalar()
    type_ = (typed if typed is not None else column).type
    if isinstance(type_, sa.Enum) and type_.enums:
        return type_.enums[n % len(type_.enums)]
    try:
        python_type = type_.python_type
    except NotImplementedError:
        python_type = str
    if python_type is str:
        # A JSON string literal: any text column takes it, and so does a JSON column
        # that MariaDB reflects as LONGTEXT (its CHECK wants valid JSON).
        length = getattr(type_, "length", None)
        text = f"{column.table.name}-{column.name}-{n}"
        return json.dumps(text[: length - 2 if length else None])
    samples = {
        bool: n % 2 == 0,
        int: n,
        float: n + 0.5,
        decimal.Decimal: decimal.Decimal(n) / 4,
        datetime.datetime: datetime.datetime(2026, 1, 1, 12, n % 60, n % 60),
        datetime.date: datetime.date(2026, 1, 1 + n % 28),
        datetime.time: datetime.time(12, n % 60, n % 60),
        datetime.timedelta: datetime.timedelta(minutes=n),
        uuid.UUID: uuid.UUID(int=n),
        bytes: f"bytes-{n}".encode(),
        dict: {"n": n},
        list: [n],
    }
    if python_type not in samples:
        raise NotImplementedError(f"give {type_!r} a sample value in conftest.py")
    return samples[python_type]


def insert_sample_rows(database: "Database", per_table: int = 3) -> None:
    """Add rows to every table the database has, parents first."""
    metadata = sa.MetaData()
    metadata.reflect(database.engine)
    with database.engine.begin() as connection:
        for table in metadata.sorted_tables:
            if table.name in database.kit_tables():
                continue
            start = connection.execute(sa.select(sa.func.count()).select_from(table))
            first = start.scalar_one() + 1
            for n in range(first, first + per_table):
                row = {
                    column.name: sample_value(
                        column,
                        n,
                        connection,
                        model_column(table, column.name, database.section),
                    )
                    for column in table.columns
                    if column is not table.autoincrement_column
                }
                connection.execute(table.insert().values(row))


def kept(before: dict[str, list[dict]], after: dict[str, list[dict]], *also):
    """``before``'s rows and ``after``'s, each cut down to the tables and columns
    both have (and each of ``also`` has), for ``assert now == was``: a contract
    revision drops a column or a table on purpose, and its downgrade cannot bring
    the values back; every other value must stay. Tables empty before are left
    out."""
    was, now = {}, {}
    for table, rows in before.items():
        sides = (after, *also)
        if not rows or any(table not in side for side in sides):  # or dropped
            continue
        names = [
            name
            for name in rows[0]
            if all(not side[table] or name in side[table][0] for side in sides)
        ]
        was[table] = [{name: row[name] for name in names} for row in rows]
        now[table] = [{name: row[name] for name in names} for row in after[table]]
    return was, now


@contextmanager
def fresh_url(backend: str, path: Path) -> Iterator[sa.URL]:
    """The URL of a fresh, empty database on ``backend``: the SQLite file ``path``,
    or an empty database on the configured server (``server_databases.py``)."""
    if backend == "sqlite":
        yield sa.URL.create("sqlite", database=str(path))
        return
    server_url = database_url_from(SERVER_URL_VARIABLES[backend])
    with fresh_server_database(server_url) as url:
        yield url


def pytest_xdist_auto_num_workers(config) -> int | None:
    """``-n auto`` (pyproject.toml's addopts): two workers more than the cores this
    process may run on. Much of the suite waits rather than computes (servers'
    answers, lock and network timeouts, killed processes, HTTP servers under
    load), so two cores keep four workers busy: 191 s instead of 286 on the three
    databases. ``PYTEST_XDIST_AUTO_NUM_WORKERS`` is left to pytest-xdist."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # pytest-xdist's own hook reads it
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return (cores or os.cpu_count() or 1) + 2


@pytest.fixture(scope="session", autouse=True)
def server_databases_dropped():
    """The databases the tests emptied and kept for reuse are dropped at the end."""
    yield
    drop_free_databases()


@pytest.fixture(autouse=True)
def console_handlers_end_with_their_test():
    """A command run in the test process with the project's alembic.ini (not through
    ``alembic_runner``, which puts logging back itself) has env.py's ``fileConfig``
    give the root logger a console handler bound to this test's captured stderr.
    It goes with the test: a later test's log lines would meet a closed stream, and
    print "--- Logging error ---" with a whole stack into that test's output."""
    root = logging.getLogger()
    before = set(root.handlers)
    yield
    for handler in root.handlers[:]:
        if handler not in before and type(handler) is logging.StreamHandler:
            root.removeHandler(handler)


@pytest.fixture(params=configured_backends())
def fresh_database_url(request, tmp_path):
    """The URL of a fresh, empty database on each configured backend."""
    with fresh_url(request.param, tmp_path / "test.sqlite") as url:
        yield url


def database_url_from(variable: str) -> sa.URL:
    """The server URL in an environment variable, with this project's driver."""
    return database_url(os.environ[variable])


@pytest.fixture
def database(fresh_database_url):
    """A fresh, empty database on each configured backend, with its engine."""
    engine = sa.create_engine(fresh_database_url)
    yield Database(fresh_database_url, engine)
    engine.dispose()


@pytest.fixture
def audit_database(database, tmp_path):
    """A fresh, empty audit database (the ``audit`` bind), on the backend of the
    ``database`` it goes with."""
    with fresh_url(database.backend, tmp_path / "audit.sqlite") as url:
        engine = sa.create_engine(url)
        yield Database(url, engine, section=AUDIT)
        engine.dispose()


def app_config(database: Database, audit_database: Database, **config) -> dict:
    """A test app's config: both databases, and ``config``."""
    return {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database.url,
        "SQLALCHEMY_BINDS": {AUDIT: audit_database.url},
        **config,
    }


@pytest.fixture
def app(database, audit_database):
    """The Flask app on fresh databases migrated to head by Alembic."""
    database.upgrade("head")
    audit_database.upgrade("head")
    app = create_app(app_config(database, audit_database))
    yield app
    with app.app_context():
        for engine in db.engines.values():
            engine.dispose()


@pytest.fixture(scope="session")
def history() -> list:
    """The revisions of the project, from the first to head."""
    return revisions()
