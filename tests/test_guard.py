"""The migration guard and ``/healthz``: the app refuses a database not at head."""

import logging
import re
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from app import create_app
from app.db import db
from conftest import AUDIT, revisions
from flask_alembic_kit.phases import CONTRACT, MERGE, declared_phase

UNKNOWN_REVISION = "feedc0ffee00"


@pytest.fixture
def app_on(database):
    """Build apps on the test's database (not migrated), disposing their engines."""
    apps = []

    def build(**settings):
        """The app on ``database``, with extra settings such as ``MIGRATION_GUARD``."""
        config = {"TESTING": True, "SQLALCHEMY_DATABASE_URI": database.url}
        apps.append(create_app(config | settings))
        return apps[-1]

    yield build
    for app in apps:
        with app.app_context():
            db.engine.dispose()


@pytest.fixture
def behind(history) -> str:
    """A revision the code at head cannot serve on: the parent of the newest
    revision it needs, one that is not contract or merge (docs/deploys.md). One
    revision behind head, unless the newest are contract revisions, which the code
    serves before."""
    for revision in reversed(history):
        if declared_phase(revision.module) not in (CONTRACT, MERGE):
            assert revision.down_revision, (
                "no revision the head code needs after the first"
            )
            return revision.down_revision
    raise AssertionError("every revision of the history is contract or merge")


class RecordList(logging.Handler):
    """A logging handler that keeps the records it is given."""

    def __init__(self) -> None:
        """An empty list of records, accepting every level."""
        super().__init__(logging.NOTSET)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the record."""
        self.records.append(record)


@pytest.fixture
def guard_log():
    """The guard's log records, from INFO up.

    The handler sits on the guard's own logger, not the root one that pytest's
    ``caplog`` uses: ``alembic upgrade`` runs ``fileConfig``, which replaces the root
    logger's handlers mid-test.
    """
    logger = logging.getLogger("app.migration_guard")
    handler, level = RecordList(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield lambda: handler.records
    logger.removeHandler(handler)
    logger.setLevel(level)


def stamp_unknown_revision(database) -> None:
    """Record a revision this code does not know, as newer code would have.

    ``alembic stamp`` refuses a revision it cannot find, so the row is written with
    SQL, the way a newer release's ``alembic upgrade`` leaves it.
    """
    with database.engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE alembic_version SET version_num = :revision"),
            {"revision": UNKNOWN_REVISION},
        )


@contextmanager
def version_queries(app):
    """Collect the statements the app sends that read ``alembic_version``."""
    statements = []

    def collect(connection, cursor, statement, *args) -> None:
        """Keep the statement when it reads the version table."""
        if "alembic_version" in statement:
            statements.append(statement)

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", collect)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", collect)


def test_healthz_at_head_is_ok(app, history):
    response = app.test_client().get("/healthz")
    head = history[-1].revision
    (audit_head,) = [revision.revision for revision in revisions(AUDIT)]
    assert response.status_code == 200
    assert response.json == {
        "status": "ok",
        "databases": {
            "default": {"database": head, "head": head, "status": "ok"},
            "audit": {"database": audit_head, "head": audit_head, "status": "ok"},
        },
    }


def test_empty_database_is_refused(database, app_on, history, guard_log):
    client = app_on().test_client()
    head = history[-1].revision

    response = client.get("/api/users")

    assert response.status_code == 503
    assert response.json == {
        "status": "empty",
        "database": None,
        "head": head,
        "command": "alembic upgrade head",
        "error": f"The database has no Alembic revision (expected head {head}); "
        "run `alembic upgrade head`.",
    }
    health = client.get("/healthz")
    assert health.status_code == 503
    assert health.json["status"] == "empty"
    assert [r.levelname for r in guard_log()] == ["ERROR"]
    assert database.tables() == set()  # the app never migrates or creates tables


def test_database_behind_what_the_code_needs_is_refused(
    database, app_on, history, behind
):
    previous, head = behind, history[-1].revision
    database.upgrade(previous)
    client = app_on().test_client()

    for path in ["/api/users", "/api/users/1/posts", "/api/nothing-here"]:
        response = client.get(path)
        assert response.status_code == 503
        assert response.json["status"] == "behind"
        assert (response.json["database"], response.json["head"]) == (previous, head)
        assert response.json["command"] == "alembic upgrade head"
        assert (
            f"at revision {previous}, behind the code's head {head}"
            in (response.json["error"])
        )
    health = client.get("/healthz")
    assert health.status_code == 503
    assert health.json == {
        "status": "behind",
        "database": previous,
        "head": head,
        "command": "alembic upgrade head",
        "error": response.json["error"],
    }


def test_database_at_an_unknown_revision_has_its_own_message(database, app_on):
    database.upgrade("head")
    stamp_unknown_revision(database)
    client = app_on().test_client()

    response = client.post("/api/users", json={"username": "a", "email": "a@b.org"})

    assert response.status_code == 503
    assert response.json["status"] == "unknown"
    assert response.json["database"] == UNKNOWN_REVISION
    assert "command" not in response.json  # upgrading cannot help
    assert "which this code does not know" in response.json["error"]
    assert "migrated by newer code" in response.json["error"]
    assert client.get("/healthz").status_code == 503
    assert all(rows == [] for rows in database.rows().values())  # nothing written


def test_mismatch_is_logged_once(database, app_on, behind, guard_log):
    database.upgrade(behind)
    client = app_on().test_client()

    statuses = [client.get("/api/users").status_code for _ in range(3)]

    assert statuses == [503, 503, 503]
    records = guard_log()
    assert len(records) == 1
    assert records[0].levelname == "ERROR"
    assert "behind the code's head" in records[0].getMessage()


def test_database_upgraded_while_running_is_served_without_restart(
    database, app_on, behind, guard_log
):
    database.upgrade(behind)
    client = app_on().test_client()
    assert client.get("/api/users").status_code == 503

    database.upgrade("head")

    assert client.get("/api/users").status_code == 200
    assert client.get("/healthz").status_code == 200
    assert [r.levelname for r in guard_log()] == ["ERROR", "INFO"]


def test_at_head_the_check_is_not_repeated(app):
    client = app.test_client()
    with version_queries(app) as first:
        assert client.get("/api/users").status_code == 200
    with version_queries(app) as later:
        for _ in range(3):
            assert client.get("/api/users").status_code == 200

    assert first
    assert later == []


def test_healthz_reads_afresh_and_rearms_the_guard(app, database):
    client = app.test_client()
    assert client.get("/api/users").status_code == 200

    stamp_unknown_revision(database)  # e.g. another release migrated the database

    assert client.get("/api/users").status_code == 200  # the guard's kept result
    health = client.get("/healthz")
    assert (health.status_code, health.json["status"]) == (503, "unknown")
    assert client.get("/api/users").status_code == 503


def test_database_downgraded_under_the_app_answers_503_not_500(
    app, database, history, guard_log, caplog
):
    app.config["PROPAGATE_EXCEPTIONS"] = False  # TESTING re-raises; answer as in use
    client = app.test_client()
    assert client.get("/api/users").status_code == 200
    guard_log().clear()

    database.downgrade("base")  # the users query now fails, whatever the history

    with caplog.at_level(logging.INFO):
        response = client.get("/api/users")
    assert (response.status_code, response.json["status"]) == (503, "empty")
    # One warning line that names the state; no "ERROR in app" traceback.
    [record] = guard_log()
    assert record.levelname == "WARNING"
    assert record.getMessage().startswith("A request failed on the database (")
    assert "The database has no Alembic revision" in record.getMessage()
    assert record.exc_info is None and "\n" not in record.getMessage()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    database.upgrade("head")
    assert client.get("/api/users").status_code == 200


def test_warn_mode_serves_and_logs_once(database, app_on, guard_log):
    database.upgrade("head")
    stamp_unknown_revision(database)
    client = app_on(MIGRATION_GUARD="warn").test_client()

    assert [client.get("/api/users").status_code for _ in range(2)] == [200, 200]
    health = client.get("/healthz")

    # The app serves, as asked, so a load balancer must not take it out of service.
    assert (health.status_code, health.json["status"]) == (200, "unknown")
    assert [r.levelname for r in guard_log()] == ["WARNING"]
    assert "does not know" in guard_log()[0].getMessage()


def test_off_mode_does_not_check(database, app_on, guard_log):
    database.upgrade("head")
    stamp_unknown_revision(database)
    app = app_on(MIGRATION_GUARD="off")
    client = app.test_client()

    with version_queries(app) as statements:
        assert client.get("/api/users").status_code == 200

    assert statements == []
    health = client.get("/healthz")
    assert (health.status_code, health.json["status"]) == (200, "unknown")
    assert guard_log() == []


def test_guard_mode_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("MIGRATION_GUARD", " Warn ")
    assert create_app().config["MIGRATION_GUARD"] == "warn"
    monkeypatch.delenv("MIGRATION_GUARD")
    assert create_app().config["MIGRATION_GUARD"] == "on"


def test_a_database_that_moved_is_noticed_within_the_interval(database, app_on):
    database.upgrade("head")
    app = app_on(MIGRATION_GUARD_INTERVAL=5)
    now = [1000.0]
    app.extensions["migration_guard"].clock = lambda: now[0]
    client = app.test_client()
    assert client.get("/api/users").status_code == 200

    stamp_unknown_revision(database)  # e.g. another release migrated the database

    now[0] += 4.9
    assert client.get("/api/users").status_code == 200  # kept for the interval
    now[0] += 0.2
    answer = client.get("/api/users")
    assert (answer.status_code, answer.json["status"]) == (503, "unknown")


def ahead_of_head(database) -> None:
    """The database as a newer release's expand phase leaves it: at a revision
    this code does not know, with this code's head among those that may serve."""
    head = database.current()
    serving = sa.table(
        "alembic_version_serving", sa.column("code_head"), sa.column("database_at")
    )
    stamp_unknown_revision(database)
    with database.engine.begin() as connection:
        connection.execute(serving.delete())
        rows = [
            {"code_head": each, "database_at": UNKNOWN_REVISION}
            for each in (
                head,
                UNKNOWN_REVISION,
            )
        ]
        connection.execute(serving.insert(), rows)


def test_a_database_ahead_by_expand_revisions_is_served_and_named(database, app_on):
    database.upgrade("head")
    ahead_of_head(database)
    client = app_on().test_client()

    assert client.get("/api/users").status_code == 200
    health = client.get("/healthz")
    assert (health.status_code, health.json["status"]) == (200, "ahead")
    assert "ahead of this code's head" in health.json["message"]
    assert "error" not in health.json


def test_strict_mode_serves_at_head_only(database, app_on):
    database.upgrade("head")
    ahead_of_head(database)
    client = app_on(MIGRATION_GUARD="strict").test_client()

    answer = client.get("/api/users")

    assert (answer.status_code, answer.json["status"]) == (503, "ahead")
    assert answer.json["error"].endswith(
        "MIGRATION_GUARD=strict serves at the code's head only."
    )
    health = client.get("/healthz")
    assert health.status_code == 503
    assert health.json["error"] == answer.json["error"]


@pytest.mark.parametrize("value", ["soon", "-1", "1e9", "nan"])
def test_a_bad_guard_interval_keeps_the_default(monkeypatch, caplog, value):
    monkeypatch.setenv("MIGRATION_GUARD_INTERVAL", value)
    app = create_app()

    assert app.extensions["migration_guard"].interval == 5.0
    assert f"MIGRATION_GUARD_INTERVAL={value!r} is not a number of seconds" in (
        caplog.text
    )


def test_unknown_guard_mode_keeps_the_guard_on(monkeypatch, caplog):
    monkeypatch.setenv("MIGRATION_GUARD", "of")
    assert create_app().config["MIGRATION_GUARD"] == "on"
    assert "MIGRATION_GUARD='of' is not one of on, strict, warn, off" in caplog.text


def health_and_users(app):
    """``GET /healthz`` and ``GET /api/users`` on a fresh app, then its engine
    disposed."""
    client = app.test_client()
    try:
        return client.get("/healthz"), client.get("/api/users")
    finally:
        with app.app_context():
            db.engine.dispose()


def test_unreachable_database_is_503_and_leaks_nothing(guard_log):
    # Nothing listens on port 1. Building the app must not connect; the first
    # request finds the database unreachable.
    url = "postgresql://app:s3cret-pw@127.0.0.1:1/appdb"
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url})
    health, refused = health_and_users(app)

    assert (health.status_code, refused.status_code) == (503, 503)
    assert health.json["status"] == refused.json["status"] == "unavailable"
    assert health.json["database"] is None
    for response in (health, refused):
        for secret in (b"s3cret-pw", b"127.0.0.1", b"appdb", b"postgresql"):
            assert secret not in response.data
    assert len(guard_log()) == 1
    logged = guard_log()[0].getMessage()
    assert "s3cret-pw" not in logged
    # The driver's reason, then what the guard does, each a sentence of its own.
    assert re.search(r"Cause: [^\n]*\. Requests are refused with 503", logged), logged


def test_missing_alembic_config_is_503_with_a_reason(monkeypatch, tmp_path, guard_log):
    # As with a non-editable install: no alembic.ini where ALEMBIC_CONFIG points, so
    # the code's head cannot be read. A clear 503, not a 500 with a traceback.
    missing = tmp_path / "missing" / "alembic.ini"
    monkeypatch.setenv("ALEMBIC_CONFIG", str(missing))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'app.sqlite'}")
    monkeypatch.setenv("DATABASE_URL_AUDIT", f"sqlite:///{tmp_path / 'audit.sqlite'}")
    health, refused = health_and_users(create_app())

    assert (health.status_code, refused.status_code) == (503, 503)
    unreadable = (
        "The code's revision scripts could not be read: ALEMBIC_CONFIG does not "
        "name the project's alembic.ini."
    )
    state = {"status": "unavailable", "database": None, "head": None}
    assert health.json == {
        "status": "unavailable",
        "error": f"Database default: {unreadable} Database audit: {unreadable}",
        "databases": {
            "default": {**state, "error": unreadable},
            "audit": {**state, "error": unreadable},
        },
    }
    assert refused.json == health.json
    for response in (health, refused):
        assert b"Traceback" not in response.data
        assert str(tmp_path).encode() not in response.data
    [record] = guard_log()
    assert f"ALEMBIC_CONFIG is '{missing}'" in record.getMessage()
    assert "\n" not in record.getMessage()


def test_error_answers_share_one_layout(database, app_on, behind):
    # /healthz, the guard's 503 and a 404 all put their text in "error".
    database.upgrade(behind)
    client = app_on().test_client()
    health, refused = client.get("/healthz"), client.get("/api/users")
    database.upgrade("head")
    missing = app_on().test_client().get("/api/users/99")

    assert [r.status_code for r in (health, refused, missing)] == [503, 503, 404]
    for response in (health, refused, missing):
        assert isinstance(response.json["error"], str) and response.json["error"]
        assert "message" not in response.json
    assert health.json == refused.json
