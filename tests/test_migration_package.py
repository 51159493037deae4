"""``flask_alembic_kit/``, module by module, on real connections and without the
``alembic`` command: settings, session timeouts, run locks, the retry loop, the
DDL MariaDB keeps, and the connect timeout."""

import socket
import time
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from alembic.operations import Operations, ops
from alembic.runtime.migration import MigrationContext
from sqlalchemy.dialects.postgresql import ARRAY

from conftest import (
    SERVER_URL_VARIABLES,
    Database,
    configured_backends,
    database_url_from,
)
from flask_alembic_kit import defaults, operations, sqlite  # noqa: F401  (the ops)
from flask_alembic_kit.connection import is_connect_timeout
from flask_alembic_kit.errors import MigrationFailed, is_lock_timeout
from flask_alembic_kit.network import add_connect_timeout, applied_connect_timeout
from flask_alembic_kit.ordering import dependency_order
from flask_alembic_kit.retry import lock_retries
from flask_alembic_kit.run_lock import run_lock
from flask_alembic_kit.settings import Settings
from flask_alembic_kit.timeouts import script_header
from flask_alembic_kit.urls import SettingError
from server_databases import fresh_server_database

SETTINGS = Settings(run_lock_wait=1, lock_timeout=2, statement_timeout=30)


def test_settings_default_and_from_the_environment(monkeypatch):
    assert Settings.from_environment() == Settings(300, 5, 600, 0, 10, 30)
    monkeypatch.setenv("MIGRATION_CONNECT_TIMEOUT", " 2.5 ")
    monkeypatch.setenv("MIGRATION_LOCK_RETRIES", "3")
    monkeypatch.setenv("MIGRATION_NETWORK_TIMEOUT", "0")
    assert Settings.from_environment() == Settings(300, 5, 600, 3, 2.5, 0)


@pytest.mark.parametrize(
    ("variable", "value", "largest"),
    [
        ("MIGRATION_CONNECT_TIMEOUT", "ten", 3600),
        ("MIGRATION_CONNECT_TIMEOUT", "-1", 3600),
        ("MIGRATION_CONNECT_TIMEOUT", "1e10", 3600),
        ("MIGRATION_LOCK_RETRIES", "1.5", 100),
        ("MIGRATION_LOCK_RETRIES", "101", 100),
        ("MIGRATION_LOCK_TIMEOUT", "inf", 86400),
        ("MIGRATION_LOCK_TIMEOUT", "nan", 86400),
        ("MIGRATION_RUN_LOCK_WAIT", "1e300", 86400),
        ("MIGRATION_STATEMENT_TIMEOUT", "86401", 86400),
        ("MIGRATION_NETWORK_TIMEOUT", "3601", 3600),
        ("MIGRATION_NETWORK_TIMEOUT", "30s", 3600),
    ],
)
def test_bad_setting_names_the_variable_and_its_range(
    monkeypatch, variable, value, largest
):
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingError) as raised:
        Settings.from_environment()
    what = (
        "a whole number"
        if variable == "MIGRATION_LOCK_RETRIES"
        else "a number of seconds"
    )
    assert raised.value.message == (
        f"{variable} must be {what} from 0 to {largest}, not {value!r}"
    )


def session_timeouts(connection: sa.Connection) -> tuple:
    """The lock and statement timeouts in force on ``connection``."""
    if connection.dialect.name == "postgresql":
        return tuple(
            connection.exec_driver_sql(f"SHOW {name}").scalar()
            for name in ("lock_timeout", "statement_timeout")
        )
    row = connection.exec_driver_sql(
        "SELECT @@SESSION.lock_wait_timeout, @@SESSION.innodb_lock_wait_timeout, "
        "@@SESSION.max_statement_time"
    ).one()
    return tuple(float(value) for value in row)


def lock_is_held(database, holder: sa.Connection) -> bool:
    """Whether the run lock of ``database`` is held by ``holder``'s session, read
    from another connection as a second migrator would see it."""
    with database.engine.connect() as other:
        if database.backend == "postgresql":
            pid = holder.exec_driver_sql("SELECT pg_backend_pid()").scalar()
            query = (
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = "
            )
            return other.exec_driver_sql(f"{query}{pid}").scalar() == 1
        if database.backend == "mysql":
            name = f"alembic.{database.url.database}.alembic_version"
            owner = other.execute(sa.text("SELECT IS_USED_LOCK(:n)"), {"n": name})
            return (
                owner.scalar()
                == holder.exec_driver_sql("SELECT CONNECTION_ID()").scalar()
            )
        other.connection.driver_connection.execute("PRAGMA busy_timeout = 0")
        try:
            other.exec_driver_sql("BEGIN IMMEDIATE")
        except sa.exc.OperationalError:
            return True
        other.exec_driver_sql("ROLLBACK")
        return False


def test_run_lock_holds_the_lock_and_the_timeouts_then_releases_them(database):
    with database.engine.connect() as connection:
        defaults = (
            None if database.backend == "sqlite" else session_timeouts(connection)
        )
        connection.commit()
        with run_lock(connection, SETTINGS, migrating=True) as run:
            assert lock_is_held(database, connection)
            if database.backend == "postgresql":
                assert session_timeouts(connection) == ("2s", "30s")
            elif database.backend == "mysql":
                assert session_timeouts(connection) == (2, 2, 30)
            else:
                assert run.options["transactional_ddl"] is True
        assert not lock_is_held(database, connection)
        if defaults is not None:
            assert session_timeouts(connection) == defaults


def test_reading_commands_take_no_lock(database):
    with (
        database.engine.connect() as connection,
        run_lock(connection, SETTINGS, migrating=False) as run,
    ):
        sqlite = database.backend == "sqlite"  # says how it migrates, DDL included
        assert run.options == ({"transactional_ddl": True} if sqlite else {})
        assert not lock_is_held(database, connection)


def test_a_failed_statement_names_the_revision_reached(database, history):
    database.upgrade(history[0].revision)
    with database.engine.connect() as connection:
        with (
            pytest.raises(MigrationFailed) as raised,
            run_lock(connection, SETTINGS, migrating=True),
        ):
            connection.exec_driver_sql("SELECT no_such_column FROM alembic_version")
        message = str(raised.value)
        assert message.startswith("a migration statement failed: ")
        assert message.endswith(
            f"The database is at {history[0].revision}, the last revision that "
            "completed"
        )
        assert not lock_is_held(database, connection)


SERVERS = [name for name in configured_backends() if name != "sqlite"]


def database_on_a_server(backend: str):
    """A fresh database on a configured server, with its engine."""
    server_url = database_url_from(SERVER_URL_VARIABLES[backend])
    with fresh_server_database(server_url) as url:
        engine = sa.create_engine(url)
        yield Database(url, engine)
        engine.dispose()


@pytest.fixture(params=SERVERS)
def server_database(request):
    """A fresh database on each configured server: SQLite has no lock timeouts (its
    run lock is the write lock)."""
    yield from database_on_a_server(request.param)


@pytest.fixture(params=[name for name in SERVERS if name == "mysql"])
def mariadb_database(request):
    """A fresh MariaDB/MySQL database, when that server is configured."""
    yield from database_on_a_server(request.param)


@contextmanager
def table_held(database):
    """A table ``busy`` that another connection holds an exclusive lock on."""
    with database.engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE busy (id INTEGER PRIMARY KEY)")
    holder = database.engine.connect()
    if database.backend == "postgresql":
        holder.exec_driver_sql("LOCK TABLE busy IN ACCESS EXCLUSIVE MODE")
    else:
        holder.exec_driver_sql("LOCK TABLES busy WRITE")
    try:
        yield holder
    finally:
        if database.backend == "mysql":
            holder.exec_driver_sql("UNLOCK TABLES")
        holder.rollback()
        holder.close()


def revisions_on_a_held_table(database, retries: int, *statements: str):
    """Run ``statements`` as one revision (a transaction) while another connection
    holds the table ``busy``, with ``retries``: the attempts made, and the error."""
    settings = Settings(run_lock_wait=1, lock_timeout=1, statement_timeout=30)
    attempts = 0
    with (
        table_held(database),
        database.engine.connect() as connection,
        pytest.raises(MigrationFailed) as raised,
        run_lock(connection, settings, migrating=True) as run,
    ):
        for attempt in lock_retries(retries, run.kept_ddl):
            with attempt, connection.begin():  # as Alembic runs a revision
                attempts += 1
                for statement in statements:
                    connection.exec_driver_sql(statement)
    return attempts, raised.value


def test_lock_timeout_is_retried_then_given_up(server_database):
    attempts, error = revisions_on_a_held_table(
        server_database, 1, "SELECT * FROM busy"
    )
    assert attempts == 2
    assert is_lock_timeout(error.__cause__)
    assert str(error).startswith(
        "a migration statement waited too long for a table lock"
    )


def test_a_retry_that_succeeds_ends_the_loop(server_database):
    database = server_database
    settings = Settings(run_lock_wait=1, lock_timeout=1, statement_timeout=30)
    attempts = []
    with (
        database.engine.connect() as connection,
        run_lock(connection, settings, migrating=True) as run,
    ):
        holder = table_held(database)
        holder.__enter__()
        for attempt in lock_retries(3, run.kept_ddl):
            with attempt, connection.begin():  # as Alembic runs a revision
                attempts.append(attempt)
                if len(attempts) == 1:
                    try:
                        connection.exec_driver_sql("SELECT * FROM busy").all()
                    finally:
                        holder.__exit__(None, None, None)  # the table is free now
                rows = connection.exec_driver_sql("SELECT count(*) FROM busy").scalar()
    assert [a.succeeded for a in attempts] == [False, True]
    assert rows == 0


def test_mariadb_does_not_retry_a_revision_that_kept_ddl(mariadb_database):
    database = mariadb_database
    attempts, error = revisions_on_a_held_table(
        database, 2, "CREATE TABLE kept (id INTEGER)", "SELECT * FROM busy"
    )
    assert attempts == 1  # a rerun would create the table again
    assert str(error).startswith(
        "a migration statement waited too long for a table lock"
    )
    assert (
        "MariaDB/MySQL kept these statements of the failed revision, and a rerun "
        "resumes after them (fix what failed, not them): CREATE TABLE kept (id "
        "INTEGER). Run again later"
    ) in str(error)
    assert "rolled back" not in str(error)
    assert "kept" in database.tables()


@contextmanager
def silent_server():
    """A listener on 127.0.0.1 that accepts connections and never answers: the
    kernel completes the handshake into its backlog, and nothing reads."""
    with socket.create_server(("127.0.0.1", 0), backlog=8) as listener:
        yield listener.getsockname()[1]


@pytest.mark.parametrize("driver", ["postgresql+psycopg", "mysql+pymysql"])
def test_connect_timeout_gives_up_on_a_silent_server(driver):
    with silent_server() as port:
        engine = sa.create_engine(f"{driver}://user@127.0.0.1:{port}/db")
        add_connect_timeout(engine, 2)
        started = time.monotonic()
        with pytest.raises(sa.exc.OperationalError) as raised:
            engine.connect()
        waited = time.monotonic() - started
        engine.dispose()
    assert raised.value.statement is None  # failed connecting, not in a statement
    assert is_connect_timeout(raised.value)  # a time-out, not a refusal
    assert waited < 30  # bounded: without the timeout it would wait forever


def test_psycopg_waits_two_seconds_at_least():
    # The error then names the time applied, not the one asked for.
    assert applied_connect_timeout("psycopg", 0.5) == 2
    assert applied_connect_timeout("psycopg", 2.5) == 3
    assert applied_connect_timeout("pymysql", 0.5) == 0.5


def test_mariadb_statements_outlive_the_connect_timeout(mariadb_database):
    # PyMySQL's read timeout bounds the handshake, then is lifted.
    database = mariadb_database
    engine = sa.create_engine(database.url)
    add_connect_timeout(engine, 1)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT SLEEP(1.5)").scalar() == 0
    engine.dispose()


def test_script_header_per_dialect():
    settings = Settings(lock_timeout=2, statement_timeout=0)
    postgresql = sa.create_engine("postgresql+psycopg://db.invalid/app").dialect
    mysql = sa.create_engine("mysql+pymysql://db.invalid/app").dialect
    mariadb = sa.create_engine("mariadb+pymysql://db.invalid/app").dialect
    sqlite = sa.create_engine("sqlite://").dialect

    comment, *statements = script_header(postgresql, settings)
    assert comment.startswith("-- The timeouts the online run sets, from ")
    assert "MIGRATION_LOCK_TIMEOUT (2 s)" in comment
    assert statements == ["SET lock_timeout = 2000", "SET statement_timeout = 0"]
    assert script_header(mysql, settings)[1:] == [
        "SET SESSION lock_wait_timeout = 2",
        "SET SESSION innodb_lock_wait_timeout = 2",
        "/*M!100108 SET SESSION max_statement_time = 0 */",
    ]
    assert script_header(mariadb, settings)[-1] == "SET SESSION max_statement_time = 0"
    assert script_header(sqlite, settings) == []


def test_sqlite_table_copy_keeps_the_indexes_reflection_cannot_see(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'copy.sqlite'}")
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT)")
        connection.exec_driver_sql("CREATE INDEX ix_t_lower_a ON t (lower(a))")
        connection.exec_driver_sql("CREATE INDEX ix_t_a_desc ON t (a DESC)")
        connection.exec_driver_sql("CREATE INDEX ix_t_a ON t (a)")
    with engine.connect() as connection:
        with sqlite.write_lock(connection, SETTINGS):
            operations = Operations(MigrationContext.configure(connection))
            with operations.batch_alter_table("t", recreate="always") as batch:
                batch.add_column(sa.Column("b", sa.Integer()))
        indexes = connection.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' ORDER BY name"
        ).all()
    engine.dispose()
    assert [name for name, _ in indexes] == ["ix_t_a", "ix_t_a_desc", "ix_t_lower_a"]
    assert dict(indexes)["ix_t_a_desc"] == "CREATE INDEX ix_t_a_desc ON t (a DESC)"


@pytest.mark.parametrize(
    ("reflected", "model", "type_", "expected"),
    [
        ("'1'", sa.true(), sa.Boolean(), False),  # SQLite
        ("true", sa.true(), sa.Boolean(), False),  # PostgreSQL
        ("0", sa.true(), sa.Boolean(), True),
        ("(CURRENT_TIMESTAMP)", sa.func.now(), sa.DateTime(), False),
        ("current_timestamp()", sa.func.now(), sa.DateTime(), False),  # MariaDB
        ("CURRENT_DATE", sa.func.current_date(), sa.Date(), False),
        ("'draft'::tag_status", "draft", sa.Enum("draft", name="t"), False),
        ("'live'", "draft", sa.String(), True),
        ("0.00", "0", sa.Numeric(10, 2), False),  # MariaDB
        ("100", "100.0", sa.Integer(), False),
        ("'007'", "7", sa.String(), True),
        ("NULL", None, sa.String(), False),
        ("0", sa.literal_column("0"), sa.Integer(), None),  # left to Alembic
    ],
)
def test_server_defaults_compared_by_meaning(reflected, model, type_, expected):
    model_default = None if model is None else sa.DefaultClause(model)
    result = defaults.differ(sa.DefaultClause(sa.text(reflected)), model_default, type_)
    assert result is expected


@pytest.mark.parametrize(
    ("reflected", "type_", "rendered"),
    [
        ("1", sa.Boolean(), "sa.true()"),
        ("(CURRENT_TIMESTAMP)", sa.DateTime(), "sa.func.now()"),
        ("'draft'::tag_status", sa.String(), "'draft'"),
        ("'0'::numeric", sa.Numeric(), "'0'"),
        ("nextval('t_id_seq'::regclass)", sa.Integer(), None),
        ("''", sa.String(), "''"),
    ],
)
def test_reflected_defaults_render_for_every_database(reflected, type_, rendered):
    assert defaults.render(sa.DefaultClause(sa.text(reflected)), type_) == rendered


@pytest.mark.parametrize("first", ["parent", "child"])
def test_dropped_tables_come_children_first_whatever_the_order(first):
    metadata = sa.MetaData()
    parent = sa.Table("parent", metadata, sa.Column("id", sa.Integer, primary_key=True))
    child = sa.Table(
        "child",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("parent_id", sa.ForeignKey("parent.id")),
    )
    tables = [parent, child] if first == "parent" else [child, parent]
    script = ops.MigrationScript(
        "rev",
        ops.UpgradeOps([ops.DropTableOp.from_table(table) for table in tables]),
        ops.DowngradeOps([]),
    )

    dependency_order(script)

    assert [op.table_name for op in script.upgrade_ops.ops] == ["child", "parent"]
    downgrade = [op.table_name for op in script.downgrade_ops.ops]
    assert downgrade == ["parent", "child"]  # created parents first


@pytest.fixture(params=[name for name in SERVERS if name == "postgresql"])
def postgresql_database(request):
    """A fresh PostgreSQL database, when that server is configured."""
    yield from database_on_a_server(request.param)


def enum_types(connection) -> dict[str, list[str]]:
    """The enum types of the database: name -> values."""
    enums = sa.inspect(connection).get_enums()
    return {enum["name"]: enum["labels"] for enum in enums}


def test_postgresql_enum_types_go_with_their_last_column(postgresql_database):
    """Array columns count, a missing table dropped with if_exists is no error, a
    type in use stays, and one with other values is refused in one line."""
    mood = sa.Enum("calm", "busy", name="mood")
    with postgresql_database.engine.begin() as connection:
        op = Operations(MigrationContext.configure(connection))
        op.create_table("a", sa.Column("id", sa.Integer, primary_key=True))
        op.create_table("b", sa.Column("m", mood), sa.Column("ms", ARRAY(mood)))
        op.create_table("c", sa.Column("m", mood))  # the same type: created once
        op.drop_table("nowhere", if_exists=True)
        op.drop_table("c")
        assert enum_types(connection) == {"mood": ["calm", "busy"]}  # b uses it
        op.drop_column("b", "m")
        assert "mood" in enum_types(connection)  # the array column uses it
        op.drop_column("b", "ms")
        assert enum_types(connection) == {}
        op.create_enum_type("mood", ["calm", "busy"])
        op.create_enum_type("mood", ["calm", "busy"])  # exists: skipped
        with pytest.raises(MigrationFailed, match="exists with the values"):
            op.create_table("d", sa.Column("m", sa.Enum("x", name="mood")))
