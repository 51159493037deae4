"""Bad input through the real ``alembic`` command line: one readable line, a non-zero
exit, no traceback; and a password with ``%``, ``@``, ``:`` and ``/`` that works and
never shows up in any output."""

import os
import socket
import stat
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from alembic import command as alembic_command
from alembic.config import Config

from conftest import (
    ROOT,
    SERVER_URL_VARIABLES,
    alembic_runner,
    configured_backends,
    copy_project,
    database_url_from,
    failed_line,
)
from in_process import importing_from
from tools.databases import create_database, drop_database

SERVERS = [name for name in configured_backends() if name != "sqlite"]

# A password with every character a URL gives a meaning to.
PASSWORD = "pa%ss@wo:rd/" + uuid.uuid4().hex[:8]


def alembic(*args: str, url: str | sa.URL, cwd: Path = ROOT) -> tuple[int, str]:
    """Run ``alembic <args>`` with ``DATABASE_URL`` set: its exit code, and its stdout
    and stderr together."""
    result = alembic_runner(cwd, url)(*args)
    return result.returncode, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("not a url", "it does not parse as scheme://user:password@host"),
        ("postgresql://user:pass@db.example.com:port/name", "its port is not a number"),
        ("nosuchdb://x", "Can't load plugin: sqlalchemy.dialects:nosuchdb"),
    ],
)
def test_malformed_database_url(url, reason):
    code, output = alembic("upgrade", "head", url=url)
    assert code != 0
    assert failed_line(output) == (
        "FAILED: DATABASE_URL is not a database URL such as "
        f"postgresql://user:password@host:5432/name ({reason})"
    )


@pytest.mark.parametrize("scheme", ["mysql", "postgresql"])
@pytest.mark.parametrize("rest", ["s3cr3t@127.0.0.1/db", "s3cr3t/more@127.0.0.1/db"])
def test_password_with_an_unencoded_at_sign_is_not_echoed(scheme, rest):
    # "p@s3cr3t" unencoded: what follows the @ would be taken for the host (or, with
    # a "/", the database), and the driver's "Can't connect to MySQL server on
    # 's3cr3t@127.0.0.1'" would show it.
    code, output = alembic("upgrade", "head", url=f"{scheme}://u:p@{rest}")
    assert code != 0
    assert failed_line(output) == (
        "FAILED: DATABASE_URL is not a database URL such as "
        "postgresql://user:password@host:5432/name (its host has an @ in it: "
        "percent-encode special characters in the password, %40 for @, %3A for :, "
        "%2F for /, %25 for %)"
    )
    assert "s3cr3t" not in output


def test_flask_run_with_a_bad_url_is_one_line():
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "run", "--port", "0"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": "mysql://u:p@s3cr3t@127.0.0.1/db"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "Error: DATABASE_URL is not a database URL such as "
        "postgresql://user:password@host:5432/name (its host has an @ in it: "
        "percent-encode special characters in the password, %40 for @, %3A for :, "
        "%2F for /, %25 for %)"
    ]


def test_missing_driver():
    code, output = alembic("upgrade", "head", url="postgresql+psycopg2://u@h/name")
    assert code != 0
    assert failed_line(output) == (
        "FAILED: DATABASE_URL needs a driver: No module named 'psycopg2'"
    )


@pytest.fixture(params=SERVERS)
def server_url(request):
    """The URL of each configured server (its test database)."""
    return database_url_from(SERVER_URL_VARIABLES[request.param])


def test_server_that_does_not_answer(server_url):
    code, output = alembic("upgrade", "head", url=server_url.set(port=1))
    assert code != 0
    assert failed_line(output).startswith("FAILED: cannot connect to the database: ")
    assert "refused" in failed_line(output)


@pytest.fixture
def silent_server_url(server_url):
    """The server's URL with the port of a listener on 127.0.0.1 that accepts
    connections and never answers (its backlog holds them: nothing reads)."""
    with socket.create_server(("127.0.0.1", 0), backlog=8) as listener:
        yield server_url.set(host="127.0.0.1", port=listener.getsockname()[1])


def test_server_that_accepts_and_never_answers(silent_server_url):
    environment = {"MIGRATION_CONNECT_TIMEOUT": "2"}
    result = alembic_runner(ROOT, silent_server_url, **environment)("upgrade", "head")
    assert result.returncode != 0
    assert failed_line(result.stdout + result.stderr) == (
        "FAILED: cannot connect to the database: no answer within 2 s "
        "(MIGRATION_CONNECT_TIMEOUT)"
    )


def test_wrong_credentials(server_url):
    # PostgreSQL here trusts local connections: an unknown user is refused instead.
    url = server_url.set(username="nobody", password="wrong")
    code, output = alembic("upgrade", "head", url=url)
    assert code != 0
    line = failed_line(output)
    assert line.startswith("FAILED: cannot connect to the database: ")
    assert 'role "nobody" does not exist' in line or "Access denied" in line


def test_unknown_database_revision(database):
    database.upgrade("head")
    with database.engine.begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = 'feed'")

    for command in (["upgrade", "head"], ["current"]):
        code, output = alembic(*command, url=database.url)
        assert code != 0
        assert failed_line(output).startswith(
            "FAILED: the database is at feed, a revision this code does not know (head "
        )
        assert failed_line(output).endswith(
            "): it was migrated by newer code. Deploy that code, or check that "
            "DATABASE_URL names this project's database"
        )


def test_several_heads(tmp_path, project_history):
    copy_project(tmp_path)
    branch = (tmp_path / "alembic" / "versions" / "branch.py").open("w")
    branch.write(
        f'"""A second head."""\n\nrevision = "b2a9c4"\n'
        f'down_revision = "{project_history[-2].revision}"\n\n\n'
        "def upgrade():\n    pass\n\n\ndef downgrade():\n    pass\n"
    )
    branch.close()
    url = sa.URL.create("sqlite", database=str(tmp_path / "app.sqlite"))
    code, output = alembic("upgrade", "head", url=url, cwd=tmp_path)
    assert code != 0
    assert failed_line(output) == (
        "FAILED: the history has several heads, so 'head' names none of them: merge "
        'them (alembic merge heads -m "Merge"), or name one (<revision> or '
        "<branch>@head), or all of them (heads)"
    )
    heads = ", ".join(sorted(["b2a9c4", project_history[-1].revision]))
    assert (
        alembic("upgrade", project_history[-1].revision, url=url, cwd=tmp_path)[0] == 0
    )
    for command in (["check"], ["revision", "--autogenerate", "-m", "x"]):
        code, output = alembic(*command, url=url, cwd=tmp_path)
        assert code != 0
        assert failed_line(output) == (
            f"FAILED: the history has 2 heads ({heads}) and the database is at "
            f"{project_history[-1].revision}: merge them first "
            '(alembic merge heads -m "Merge"), then alembic upgrade head'
        )


def test_downgrade_past_base(database, history):
    database.upgrade("head")
    steps = len(history) + 1
    code, output = alembic("downgrade", f"-{steps}", url=database.url)
    assert code != 0
    assert failed_line(output) == (
        f"FAILED: Relative revision -{steps} didn't produce {steps} migrations"
    )
    assert database.current() == history[-1].revision


@pytest.mark.parametrize("case", ["to unknown", "reversed", "symbolic"])
def test_sql_range_that_does_not_exist(history, case):
    first, last = history[0].revision, history[-1].revision
    sql_range, expected = {
        "to unknown": (f"{first}:feed", "Can't locate revision identified by"),
        "reversed": (f"{last}:{first}", f"no revisions lead from {last} to {first}"),
        # The ends as the user typed them, not as Alembic resolved them.
        "symbolic": ("head:base", "no revisions lead from head to base this way"),
    }[case]
    # No connection is made: the URL only names the dialect.
    code, output = alembic("upgrade", sql_range, "--sql", url="postgresql://db/name")
    assert code != 0
    assert expected in failed_line(output)


@pytest.fixture(params=SERVERS)
def url_with_password(request):
    """A fresh database on each configured server, owned by a new user whose
    password is ``PASSWORD``; the user's URL, the password percent-encoded."""
    server_url = database_url_from(SERVER_URL_VARIABLES[request.param])
    url = create_database(server_url)
    user = f"alembic_user_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        if request.param == "postgresql":
            create = f"CREATE ROLE {user} LOGIN PASSWORD '{PASSWORD}'"
            connection.exec_driver_sql(create)
            connection.exec_driver_sql(f"ALTER DATABASE {url.database} OWNER TO {user}")
        else:
            create = f"CREATE USER '{user}'@'%' IDENTIFIED BY :password"
            connection.execute(sa.text(create), {"password": PASSWORD})
            grant = f"GRANT ALL ON {url.database}.* TO '{user}'@'%'"
            connection.execute(sa.text(grant))
    yield sa.URL.create(
        url.drivername,
        username=user,
        password=PASSWORD,
        host=url.host,
        port=url.port,
        database=url.database,
    )
    drop_database(server_url, url)
    with admin.connect() as connection:
        if request.param == "postgresql":
            connection.exec_driver_sql(f"DROP ROLE {user}")
        else:
            connection.execute(sa.text(f"DROP USER '{user}'@'%'"))
    admin.dispose()


def test_password_never_shows(url_with_password, history):
    url = url_with_password
    rendered = url.render_as_string(hide_password=False)
    secrets = {PASSWORD, quote(PASSWORD, safe=""), rendered.split(":")[2].split("@")[0]}
    outputs = []
    for command in (
        ["upgrade", "head"],
        ["current", "-v"],
        ["check"],
        ["downgrade", "-1"],
        ["upgrade", f"{history[0].revision}:head", "--sql"],
    ):
        code, output = alembic(*command, url=url)
        assert code == 0, output
        outputs.append(output)
    assert f"Rev: {history[-1].revision} (head)" in outputs[1]
    for command, bad_url in (
        (["upgrade", "head"], url.set(port=1)),
        (["upgrade", "head"], url.set(database="no_such_database")),
        (["upgrade", "head"], rendered.replace(f":{url.port}/", ":port/")),
    ):
        code, output = alembic(*command, url=bad_url)
        assert code != 0
        failed_line(output)
        outputs.append(output)
    for output in outputs:
        for secret in secrets:
            assert secret not in output


FAILING_REVISION = '''"""Fails on its second statement."""

from alembic import op

revision = "f0a1f0a1f0a1"
down_revision = "{parent}"


def upgrade():
    op.execute("CREATE TABLE made_first (id INTEGER PRIMARY KEY)")
    op.execute("SELECT no_such_column FROM users")


def downgrade():
    pass
'''


def test_raiseerr_shows_the_traceback_without_the_hint(tmp_path, project_history):
    copy_project(tmp_path)
    (tmp_path / "alembic" / "versions" / "failing.py").write_text(
        FAILING_REVISION.format(parent=project_history[-1].revision)
    )
    url = sa.URL.create("sqlite", database=str(tmp_path / "app.sqlite"))

    code, output = alembic("upgrade", "head", url=url, cwd=tmp_path)
    assert code != 0
    line = failed_line(output)
    assert (
        f"The database is at {project_history[-1].revision}, the last revision" in line
    )
    assert line.endswith(". Run with --raiseerr for the traceback")

    code, output = alembic("--raiseerr", "upgrade", "head", url=url, cwd=tmp_path)
    assert code != 0
    assert "Traceback" in output
    assert (
        output.strip()
        .splitlines()[-1]
        .startswith(
            "flask_alembic_kit.errors.MigrationFailed: a migration statement failed: "
        )
    )
    assert "--raiseerr" not in output
    engine = sa.create_engine(url)
    assert "made_first" not in sa.inspect(engine).get_table_names()
    engine.dispose()


TYPO_REVISION = '''"""A typo in the second operation."""

import sqlalchemy as sa
from alembic import op

revision = "7e907e907e90"
down_revision = "{parent}"


def upgrade():
    op.create_table("made_first", sa.Column("id", sa.Integer(), primary_key=True))
    op.add_colum("users", sa.Column("nickname", sa.String(40)))


def downgrade():
    pass
'''


def test_revision_with_a_python_error_is_one_line(
    tmp_path, fresh_database_url, project_history
):
    copy_project(tmp_path)
    path = tmp_path / "alembic" / "versions" / "typo.py"
    path.write_text(TYPO_REVISION.format(parent=project_history[-1].revision))

    code, output = alembic("upgrade", "head", url=fresh_database_url, cwd=tmp_path)

    assert code != 0
    line = failed_line(output)
    assert line.startswith(
        "FAILED: a revision raised AttributeError: module 'alembic.op' has no "
        "attribute 'add_colum' (alembic/versions/typo.py, line 12). The database is "
        f"at {project_history[-1].revision}, the last revision that completed"
    )
    engine = sa.create_engine(fresh_database_url)
    tables = sa.inspect(engine).get_table_names()
    engine.dispose()
    if fresh_database_url.get_backend_name() == "mysql":  # DDL is kept there
        assert "made_first" in tables
        assert "resumes after them (fix what failed, not them): CREATE TABLE" in line
    else:
        assert "made_first" not in tables
    assert line.endswith(". Run with --raiseerr for the traceback")


def test_new_sqlite_file_is_readable_by_its_owner_only(tmp_path):
    """A process of its own: in the test's, the listener that does it (app/db.py's)
    is the test process's own."""
    path = tmp_path / "instance" / "app.sqlite"
    path.parent.mkdir()
    result = alembic_runner(ROOT, f"sqlite:///{path}", process=True)("upgrade", "head")
    assert result.returncode == 0, result.stdout + result.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_callers_own_exception_passes_through(database, tmp_path):
    """A caller that runs env.py itself keeps its own exceptions: pytest-alembic's
    model check stops autogenerate by raising from process_revision_directives,
    and must see that exception, not a one-line "a revision raised" error."""

    class Stop(Exception):
        """The caller's signal, raised outside any revision file."""

    def stop(context, revision, directives) -> None:
        """Stop autogenerate once it has compared, as pytest-alembic does."""
        raise Stop(len(directives))

    project = copy_project(tmp_path)  # should it write a file, not into the checkout
    config = Config(project / "alembic.ini")
    config.attributes["connection"] = database.engine
    before = sorted(project.glob("alembic/**/*.py"))
    with importing_from(project), pytest.raises(Stop):
        alembic_command.upgrade(config, "head")
        alembic_command.revision(
            config, autogenerate=True, process_revision_directives=stop
        )
    assert sorted(project.glob("alembic/**/*.py")) == before
