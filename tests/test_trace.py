"""``migration-review --trace``: revisions on a branch of a temporary git repository,
run on throw-away databases with generated rows; what each statement did, read
from the JSON report, on each database it concerns."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa
from test_review import (
    AUDIT,
    AUDIT_HEAD,
    HEAD,
    INDEX_AUDIT_ENTITY,
    add_revision,
    commit,
    run_review,
)
from test_review import repository as repository  # noqa: F401  (the fixture)

from conftest import (
    SERVER_URL_VARIABLES,
    configured_backends,
    database_url_from,
    fresh_url,
)
from tools.fill import fill_tables
from tools.probes import LockWatcher
from tools.recorder import StatementTrace
from tools.report_trace import statement_row

SERVERS = [name for name in configured_backends() if name != "sqlite"]
ROWS = "2000"


def traced(project, capsys, *args: str) -> tuple[int, dict]:
    """``migration-review --trace`` on the branch: the status and the JSON report."""
    status, out, err = run_review(
        project,
        "--base",
        "main",
        "--format",
        "json",
        "--trace",
        "--rows",
        ROWS,
        *args,
        capsys=capsys,
    )
    assert not err, err
    return status, json.loads(out)


def statements(report: dict, database: str, index: int = -1) -> list[dict]:
    """The traced statements of a revision (the last one by default)."""
    return report["revisions"][index]["trace"][database]["statements"]


def rules(report: dict, index: int = -1) -> set[tuple[str, str]]:
    """The trace's findings of a revision, as ``(rule, database named in it)``: a
    finding several databases share names each."""
    return {
        (finding["rule"], database)
        for finding in report["revisions"][index]["findings"]
        if finding["source"] == "trace"
        for database in ("PostgreSQL", "MariaDB/MySQL", "SQLite")
        if f"On {database}" in finding["why"]
    }


def locks(statement: dict) -> dict[str, str]:
    """A statement's locks on tables: table -> mode."""
    return {
        lock["relation"]: lock["mode"]
        for lock in statement["locks"]
        if not lock["index"]
    }


def test_add_a_nullable_column(repository, capsys):  # noqa: F811
    add_revision(
        repository,
        "c1ea00000001",
        HEAD,
        (
            'op.add_column("posts", sa.Column("score", sa.Integer(), nullable=True))',
            'op.drop_column("posts", "score")',
        ),
    )
    commit(repository, "Add score")

    _, report = traced(repository, capsys)

    trace = report["revisions"][0]["trace"]
    assert set(trace) == set(configured_backends())
    for database in trace:
        [statement] = statements(report, database)
        assert statement["ok"] and statement["sql"].startswith("ALTER TABLE posts ADD")
        assert statement["rewrites"] == []
        assert trace[database]["round_trip"] == "ok"
        assert trace[database]["rows"] == int(ROWS)
    if "postgresql" in trace:
        [statement] = statements(report, "postgresql")
        assert locks(statement) == {"posts": "AccessExclusiveLock"}
    if "mysql" in trace:
        [statement] = statements(report, "mysql")
        assert statement["algorithm"] == "INSTANT"
        assert locks(statement) == {"posts": "LOCK=NONE"}
    assert report["traced"]["sqlite"]["filled"] == {
        "users": f"{ROWS} rows",
        "posts": f"{ROWS} rows",
    }


def test_integer_to_bigint_rewrites_the_table(repository, capsys):  # noqa: F811
    add_revision(
        repository,
        "c1ea00000002",
        HEAD,
        (
            'with op.batch_alter_table("posts") as batch_op:\n'
            '    batch_op.alter_column("id", existing_type=sa.Integer(), '
            "type_=sa.BigInteger())",
            'with op.batch_alter_table("posts") as batch_op:\n'
            '    batch_op.alter_column("id", existing_type=sa.BigInteger(), '
            "type_=sa.Integer())",
        ),
    )
    commit(repository, "Widen posts.id")

    _, report = traced(repository, capsys, "--max-lock-ms", "0")

    found = rules(report)
    if "postgresql" in SERVERS:
        [statement] = statements(report, "postgresql")
        assert "posts" in statement["rewrites"]
        assert locks(statement)["posts"] == "AccessExclusiveLock"
        assert {("table-rewrite", "PostgreSQL"), ("blocking-lock", "PostgreSQL")} <= (
            found
        )
    if "mysql" in SERVERS:
        [statement] = statements(report, "mysql")
        assert statement["algorithm"] == "COPY"
        assert ("table-rewrite", "MariaDB/MySQL") in found


@pytest.mark.skipif("postgresql" not in SERVERS, reason="PostgreSQL's locks")
def test_index_blocks_writes_unless_built_concurrently(repository, capsys):  # noqa: F811
    add_revision(
        repository,
        "c1ea00000003",
        HEAD,
        (
            'op.create_index("ix_posts_title", "posts", ["title"])',
            'op.drop_index("ix_posts_title", table_name="posts")',
        ),
    )
    add_revision(
        repository,
        "c1ea00000004",
        "c1ea00000003",
        (
            "with op.get_context().autocommit_block():\n"
            '    op.create_index("ix_posts_body", "posts", ["body"], '
            "postgresql_concurrently=True)",
            'op.drop_index("ix_posts_body", table_name="posts")',
        ),
    )
    commit(repository, "Indexes")

    _, report = traced(repository, capsys, "--max-lock-ms", "0")

    [plain] = statements(report, "postgresql", 0)
    assert locks(plain)["posts"] == "ShareLock"
    assert ("blocking-lock", "PostgreSQL") in rules(report, 0)
    [concurrent] = statements(report, "postgresql", 1)
    assert "CONCURRENTLY" in concurrent["sql"]
    assert locks(concurrent)["posts"] == "ShareUpdateExclusiveLock"
    assert ("blocking-lock", "PostgreSQL") not in rules(report, 1)


@pytest.mark.skipif("postgresql" not in SERVERS, reason="PostgreSQL's locks")
def test_a_table_the_branch_creates_has_no_blocking_lock(repository, capsys):  # noqa: F811
    """An index on a table an earlier revision of the branch creates: the lock is
    measured, and is no finding (the table is new and empty, as the linter says)."""
    add_revision(
        repository,
        "c1ea00000011",
        HEAD,
        (
            'op.create_table("tags", sa.Column("id", sa.Integer, primary_key=True),'
            ' sa.Column("name", sa.String(40)))',
            'op.drop_table("tags")',
        ),
    )
    add_revision(
        repository,
        "c1ea00000012",
        "c1ea00000011",
        (
            'op.create_index("ix_tags_name", "tags", ["name"])',
            'op.drop_index("ix_tags_name", table_name="tags")',
        ),
    )
    commit(repository, "A table, then its index")

    _, report = traced(repository, capsys, "--max-lock-ms", "0")

    [index] = statements(report, "postgresql", 1)
    assert locks(index)["tags"] == "ShareLock"
    assert ("blocking-lock", "PostgreSQL") not in rules(report, 1)


@pytest.mark.skipif("postgresql" not in SERVERS, reason="PostgreSQL's locks")
def test_foreign_key_not_valid_then_validated_takes_weaker_locks(
    repository,  # noqa: F811
    capsys,
):
    add_revision(
        repository,
        "c1ea00000005",
        HEAD,
        (
            'op.add_column("posts", sa.Column("editor_id", sa.Integer()))\n'
            'op.create_foreign_key("fk_posts_editor", "posts", "users", '
            '["editor_id"], ["id"])',
            'op.drop_constraint("fk_posts_editor", "posts", type_="foreignkey")\n'
            'op.drop_column("posts", "editor_id")',
        ),
    )
    add_revision(
        repository,
        "c1ea00000006",
        "c1ea00000005",
        (
            'op.add_column("posts", sa.Column("reviewer_id", sa.Integer()))\n'
            'op.create_foreign_key("fk_posts_reviewer", "posts", "users", '
            '["reviewer_id"], ["id"], postgresql_not_valid=True)',
            'op.drop_constraint("fk_posts_reviewer", "posts", type_="foreignkey")\n'
            'op.drop_column("posts", "reviewer_id")',
        ),
    )
    add_revision(
        repository,
        "c1ea00000007",
        "c1ea00000006",
        (
            'op.execute("ALTER TABLE posts VALIDATE CONSTRAINT fk_posts_reviewer")',
            "pass",
        ),
    )
    commit(repository, "Foreign keys")

    _, report = traced(repository, capsys)

    _, plain = statements(report, "postgresql", 0)
    assert locks(plain) == {
        "posts": "AccessExclusiveLock",  # held since the ADD COLUMN before it
        "users": "ShareRowExclusiveLock",
    }
    [validate] = statements(report, "postgresql", 2)
    assert locks(validate) == {
        "posts": "ShareUpdateExclusiveLock",
        "users": "RowShareLock",
    }
    assert ("blocking-lock", "PostgreSQL") not in rules(report, 2)


@pytest.mark.skipif("postgresql" not in SERVERS, reason="PostgreSQL's locks")
def test_set_not_null_holds_an_exclusive_lock(repository, capsys):  # noqa: F811
    add_revision(
        repository,
        "c1ea00000008",
        HEAD,
        (
            'op.alter_column("posts", "body", existing_type=sa.Text(), '
            "nullable=True)\n"
            'op.alter_column("posts", "body", existing_type=sa.Text(), '
            "nullable=False)",
            "pass",
        ),
    )
    commit(repository, "Body not null")

    _, report = traced(repository, capsys, "--postgresql", pg_url())

    _, set_not_null = statements(report, "postgresql")
    assert "SET NOT NULL" in set_not_null["sql"]
    assert locks(set_not_null) == {"posts": "AccessExclusiveLock"}
    assert ("blocking-lock", "PostgreSQL") in rules(report)


def pg_url() -> str:
    """The PostgreSQL server's URL, as ``--postgresql`` takes it."""
    url = database_url_from(SERVER_URL_VARIABLES["postgresql"])
    return url.render_as_string(hide_password=False)


SQLITE_BOOLEAN = (
    'op.add_column("users", sa.Column("active", sa.Boolean(), nullable=False, '
    'server_default=sa.text("1")))',
    'with op.batch_alter_table("users") as batch_op:\n'
    '    batch_op.drop_column("active")',
)


def test_sqlite_generated_boolean_default_fails_on_postgresql(
    repository,  # noqa: F811
    capsys,
):
    add_revision(repository, "c1ea00000009", HEAD, SQLITE_BOOLEAN)
    commit(repository, "Active users")

    status, report = traced(repository, capsys)

    assert status == 1
    trace = report["revisions"][0]["trace"]
    assert trace["sqlite"]["round_trip"] == "ok"
    if "postgresql" in SERVERS:
        assert "is of type boolean" in trace["postgresql"]["error"]
        assert ("dialect-failed", "PostgreSQL") in rules(report)
        [failed] = statements(report, "postgresql")
        assert failed["ok"] is False


def test_downgrade_that_leaves_a_table_fails_the_round_trip(
    repository,  # noqa: F811
    capsys,
):
    add_revision(
        repository,
        "c1ea0000000a",
        HEAD,
        (
            'op.create_table("tags", sa.Column("id", sa.Integer(), primary_key=True))\n'
            'op.create_table("tag_notes", sa.Column("id", sa.Integer(), '
            "primary_key=True))",
            'op.drop_table("tags")',
        ),
    )
    commit(repository, "Tags")

    _, report = traced(repository, capsys)

    for database, trace in report["revisions"][0]["trace"].items():
        assert trace["round_trip"].startswith("upgrade again: "), database
        assert "tag_notes" in trace["round_trip"], database
    assert {rule for rule, _ in rules(report)} >= {"round-trip-failed"}


def test_the_created_databases_are_dropped(repository, capsys):  # noqa: F811
    add_revision(repository, "c1ea0000000b", HEAD, SQLITE_BOOLEAN)
    commit(repository, "Active users")

    _, report = traced(repository, capsys)

    assert set(report["traced"]) == set(configured_backends())  # each one made
    its_own = f"migration_trace_{os.getpid()}_"  # other runs may trace meanwhile
    assert not any(databases(name, its_own) for name in SERVERS)


def databases(server: str, prefix: str) -> set[str]:
    """The names of the databases on a server that start with ``prefix``."""
    engine = sa.create_engine(database_url_from(SERVER_URL_VARIABLES[server]))
    try:
        with engine.connect() as connection:
            names = sa.inspect(connection).get_schema_names()
            if server == "postgresql":
                names = connection.exec_driver_sql(
                    "SELECT datname FROM pg_database"
                ).scalars()
            return {name for name in names if name.startswith(prefix)}
    finally:
        engine.dispose()


def test_without_servers_it_traces_on_sqlite_and_says_so(
    repository,  # noqa: F811
    capsys,
    monkeypatch,
):
    for variable in SERVER_URL_VARIABLES.values():
        monkeypatch.delenv(variable, raising=False)
    add_revision(
        repository,
        "c1ea0000000c",
        HEAD,
        (
            'op.add_column("posts", sa.Column("score", sa.Integer(), nullable=True))',
            'op.drop_column("posts", "score")',
        ),
    )
    commit(repository, "Add score")

    status, out, _ = run_review(
        repository, "--base", "main", "--trace", "--rows", "10", capsys=capsys
    )

    assert status == 1, out  # the models have no score: models-differ
    assert "> Traced on SQLite only: set TEST_POSTGRESQL_URL" in out
    assert "**Measured**" in out
    assert "| 16 | `ALTER TABLE posts ADD COLUMN score INTEGER` |" in out
    assert "**models-differ** (trace)" in out
    assert "op.drop_column('posts', 'score')" in out
    assert out.rstrip().splitlines()[-1].startswith("Traced in ")


def test_a_silent_server_is_one_line(repository):  # noqa: F811
    """A server that accepts the connection and never answers: the trace gives up
    after its connect timeout (``MIGRATION_CONNECT_TIMEOUT``, lowered here), in one
    line; a bad value of the setting is one line too."""
    add_revision(repository, "c1ea00000012", HEAD, SQLITE_BOOLEAN)
    commit(repository, "Active users")
    with socket.create_server(("127.0.0.1", 0), backlog=8) as listener:
        port = listener.getsockname()[1]

        def review(timeout: str) -> subprocess.CompletedProcess:
            return subprocess.run(
                [sys.executable, "-m", "tools.review", "--base", "main", "--trace"]
                + ["--postgresql", f"postgresql://root:s3cret@127.0.0.1:{port}/x"],
                cwd=repository,
                env={**os.environ, "MIGRATION_CONNECT_TIMEOUT": timeout},
                capture_output=True,
                text=True,
                timeout=120,
            )

        started = time.monotonic()
        result = review("2")
        waited = time.monotonic() - started
        refused = review("soon")
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("migration-review: error: cannot create a database on ")
    assert "s3cret" not in result.stderr + result.stdout
    # A hang would wait for the run's own limit (120 s); the bound leaves room for
    # the rest of the review (SQLite's trace, the running release's process) on a
    # loaded machine, and is far from it.
    assert waited < 30, "it waited longer than the setting says"
    assert refused.returncode == 2
    [line] = refused.stderr.strip().splitlines()
    assert line.startswith("migration-review: error: MIGRATION_CONNECT_TIMEOUT ")


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        (
            "--postgresql",
            "postgresql://root:s3cret@127.0.0.1:1/x",
            "migration-review: error: cannot create a database on "
            "postgresql+psycopg://root:***@127.0.0.1:1/x: ",
        ),
        (
            "--mysql",
            "not a url",
            "migration-review: error: --mysql is not a database URL",
        ),
        (
            "--mysql",
            "postgresql://root@127.0.0.1/x",
            "migration-review: error: --mysql is not a MariaDB/MySQL URL",
        ),
        ("--rows", "0", "argument --rows: expected a whole number above 0: '0'"),
        ("--max-lock-ms", "-1", "expected milliseconds, 0 or more: '-1'"),
    ],
)
def test_bad_servers_and_rows_are_one_line(repository, option, value, message):  # noqa: F811
    add_revision(repository, "c1ea0000000d", HEAD, SQLITE_BOOLEAN)
    commit(repository, "Active users")
    result = subprocess.run(
        [sys.executable, "-m", "tools.review", "--base", "main", "--trace"]
        + [option, value],
        cwd=repository,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()[-1:]
    assert message in line, result.stderr
    assert "Traceback" not in result.stderr
    assert "s3cret" not in result.stderr + result.stdout


def test_project_history_passes_the_traced_review(repository, capsys):  # noqa: F811
    """The whole history, traced on every configured database: each finding fixed
    or acknowledged, every revision down and up again, the models clean at head."""
    status, out, _ = run_review(
        repository,
        "--all",
        "--trace",
        "--rows",
        "100",
        "--format",
        "json",
        capsys=capsys,
    )
    report = json.loads(out)
    assert status == 0, [f for r in report["revisions"] for f in r["findings"]]
    assert set(report["traced"]) == set(configured_backends())
    for revision in report["revisions"]:
        for database, trace in revision["trace"].items():
            assert trace["error"] is None, (revision["revision"], database)
            assert trace["round_trip"] == "ok", (revision["revision"], database)
    head = report["revisions"][-1]["trace"]
    assert all(trace["models_differ"] is None for trace in head.values())
    traced = {f["rule"] for r in report["revisions"] for f in r["findings"]}
    assert "blocking-lock" in traced or "postgresql" not in SERVERS


@pytest.mark.skipif(not SERVERS, reason="nothing to see dropped without a server")
def test_interrupted_trace_drops_its_databases(repository):  # noqa: F811
    """Ctrl-C while a server's rows are generated: one line, exit 130, nothing
    left behind."""
    add_revision(repository, "c1ea0000000e", HEAD, SQLITE_BOOLEAN)
    commit(repository, "Active users")
    process = subprocess.Popen(
        [sys.executable, "-m", "tools.review", "--base", "main", "--trace"]
        + ["--rows", "300000"],
        cwd=repository,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    its_own = f"migration_trace_{process.pid}_"  # other runs may trace meanwhile
    deadline = time.monotonic() + 120
    while not any(databases(name, its_own) for name in SERVERS):
        assert time.monotonic() < deadline, "no database created within 120 s"
        assert process.poll() is None, process.communicate()
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert err.strip().splitlines() == [
        "migration-review: interrupted; the databases the trace created are dropped"
    ]
    assert not any(databases(name, its_own) for name in SERVERS)


FILLED = sa.MetaData()
sa.Table(
    "parent",
    FILLED,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("code", sa.String(10), unique=True),
)
sa.Table(
    "child",
    FILLED,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("flag", sa.Boolean, nullable=False),
    sa.Column("small", sa.SmallInteger, nullable=False),
    sa.Column("price", sa.Numeric(4, 2), nullable=False),
    sa.Column("day", sa.Date, unique=True),
    sa.Column("at", sa.Time, unique=True),
    sa.Column("code", sa.String(10), sa.ForeignKey("parent.code")),
    sa.Column("details", sa.JSON),
    sa.Column("token", sa.Uuid),
    sa.Column("status", sa.Enum("new", "old", name="child_status")),
)
sa.Table(
    "keyed",
    FILLED,
    sa.Column("key", sa.String(20), primary_key=True),
    sa.Column("n", sa.Integer),
)


def test_generated_rows_fit_the_types(fresh_database_url):
    """Past SmallInteger's range, in a Numeric(4, 2), distinct dates and times,
    a Boolean (MariaDB's TINYINT(1)), JSON (MariaDB's checked text), a foreign
    key to a unique column, a string primary key: every table filled."""
    engine = sa.create_engine(fresh_database_url)
    try:
        FILLED.create_all(engine)
        with engine.begin() as connection:
            done = fill_tables(connection, 33_000)
        assert done == {name: "33000 rows" for name in ("parent", "child", "keyed")}
        with engine.connect() as connection:
            codes = "SELECT count(*) FROM child WHERE code IN (SELECT code FROM parent)"
            assert connection.exec_driver_sql(codes).scalar() == 33_000
    finally:
        engine.dispose()


@pytest.mark.skipif("postgresql" not in SERVERS, reason="PostgreSQL's locks")
def test_a_stronger_lock_later_is_its_own_finding(repository, capsys):  # noqa: F811
    """An index (ShareLock: writes wait), then a column (AccessExclusiveLock: reads
    wait too) held over an UPDATE, on the same table: each is reported, so one
    acknowledgement does not cover the other."""
    add_revision(
        repository,
        "c1ea0000000f",
        HEAD,
        (
            'op.create_index("ix_posts_title", "posts", ["title"])\n'
            'op.add_column("posts", sa.Column("views", sa.Integer(), nullable=True))\n'
            'op.execute("UPDATE posts SET views = 0")',
            'op.drop_column("posts", "views")\n'
            'op.drop_index("ix_posts_title", table_name="posts")',
        ),
    )
    commit(repository, "Index and column")

    _, report = traced(repository, capsys)

    blocking = [
        finding
        for finding in report["revisions"][0]["findings"]
        if finding["rule"] == "blocking-lock" and "On PostgreSQL" in finding["why"]
    ]
    assert [finding["line"] for finding in blocking] == [16, 17]
    assert "ShareLock on posts" in blocking[0]["why"]
    assert "AccessExclusiveLock on posts" in blocking[1]["why"]


def test_revisions_after_a_failed_round_trip_say_they_were_not_traced(
    repository,  # noqa: F811
    capsys,
):
    add_revision(
        repository,
        "c1ea00000010",
        HEAD,
        (
            'op.create_table("tags", sa.Column("id", sa.Integer(), primary_key=True))',
            "pass",
        ),
    )
    add_revision(repository, "c1ea00000011", "c1ea00000010", SQLITE_BOOLEAN, "next")
    commit(repository, "Tags, then active users")

    _, report = traced(repository, capsys)

    first, second = report["revisions"]
    for database, trace in first["trace"].items():
        assert trace["round_trip"].startswith("upgrade again: "), database
        assert second["trace"][database]["not_traced"] == (
            "not traced: c1ea00000010 failed here"
        )


def test_statements_with_backticks_stay_one_code_span():
    """MariaDB quotes names with backticks: the Markdown row still reads right."""
    statement = StatementTrace("ALTER TABLE posts CHANGE `body` content TEXT", 12)
    row = statement_row(statement)
    assert "| `` ALTER TABLE posts CHANGE `body` content TEXT `` |" in row


def test_audit_revision_is_traced_on_a_database_of_its_own(repository, capsys):  # noqa: F811
    """A branch changing both histories: each is traced on throw-away databases of
    its own, with its own config (version table, models)."""
    add_revision(repository, "a0d100000011", AUDIT_HEAD, INDEX_AUDIT_ENTITY, **AUDIT)
    add_revision(
        repository,
        "c1ea00000013",
        HEAD,
        (
            'op.add_column("posts", sa.Column("score", sa.Integer(), nullable=True))',
            'op.drop_column("posts", "score")',
        ),
    )
    commit(repository, "Audit index, posts' score")

    _, report = traced(repository, capsys, "--max-lock-ms", "0")

    default, audit = report["revisions"]
    assert (default["database"], audit["database"]) == ("default", "audit")
    backends = set(configured_backends())
    assert set(audit["trace"]) == set(report["traced"]) == backends
    audit_traced = report["databases"]["audit"]["traced"]
    for backend in backends:
        assert report["traced"][backend]["filled"] == {
            "users": f"{ROWS} rows",
            "posts": f"{ROWS} rows",
        }
        # Its version table keeps its one row: alembic_version_audit is no table
        # to fill.
        assert audit_traced[backend]["filled"] == {"audit_events": f"{ROWS} rows"}
        [statement] = statements(report, backend)
        assert statement["sql"].startswith(
            "CREATE INDEX ix_audit_events_entity ON audit_events"
        )
        trace = audit["trace"][backend]
        assert (trace["error"], trace["round_trip"]) == (None, "ok")
        # At the audit history's head, compared with the audit models alone.
        assert "ix_audit_events_entity" in trace["models_differ"]
        assert "score" not in trace["models_differ"]
        assert "score" in default["trace"][backend]["models_differ"]
    assert {finding["database"] for finding in audit["findings"]} == {"audit"}
    if "postgresql" in SERVERS:
        [statement] = statements(report, "postgresql")
        assert locks(statement) == {"audit_events": "ShareLock"}
        assert ("blocking-lock", "PostgreSQL") in rules(report)
    if "mysql" in SERVERS:
        [statement] = statements(report, "mysql")
        assert (statement["algorithm"], locks(statement)) == (
            "INPLACE",
            {"audit_events": "LOCK=NONE"},
        )


@pytest.mark.skipif("postgresql" not in SERVERS, reason="PostgreSQL's locks")
def test_the_lock_watchers_snapshot_ends_with_its_connection(tmp_path, monkeypatch):
    """The watcher holds a snapshot open (``probes.LockWatcher``); when its own
    connection is lost, the snapshot goes too: a CREATE INDEX CONCURRENTLY waiting
    for it would otherwise wait until its statement timeout."""
    monkeypatch.setattr(LockWatcher, "HOLD_AT_MOST", 120.0)
    with fresh_url("postgresql", tmp_path) as url:
        engine = sa.create_engine(url)
        try:
            with engine.connect() as migrating, engine.connect() as admin:
                pid = migrating.connection.driver_connection.info.backend_pid
                watcher = LockWatcher(engine, pid)
                assert watcher.holder is not None
                lost = watcher.connection.info.backend_pid
                admin.exec_driver_sql(f"SELECT pg_terminate_backend({lost})")

                watcher.thread.join(timeout=30)

                assert not watcher.thread.is_alive()
                assert watcher.holder is None
                assert watcher.stop() == set()
        finally:
            engine.dispose()
