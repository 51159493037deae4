"""Every bad input a user can give ``alembic`` (docs/production.md), through the real
command line: a non-zero exit, exactly one ``FAILED: ...`` line naming the setting
or the part of the URL at fault, no traceback, no empty SQLite file left behind, and
never the password, raw or percent-encoded.

One table: most inputs fail before anything connects; those that need a server (an
unknown database, a wrong password) run when the server is configured
(``TEST_POSTGRESQL_URL``, ``TEST_MYSQL_URL``). A refused connection uses port 1; a
server that never answers is a listener of the test's own that reads nothing.
"""

import shutil
import socket
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
import sqlalchemy as sa

from conftest import (
    SERVER_URL_VARIABLES,
    alembic_runner,
    configured_backends,
    copy_project,
    database_url_from,
)

# A password with every character a URL gives a meaning to, percent-encoded in the
# URLs below as a user writes it.
PASSWORD = "pa%ss@wo:rd/" + uuid.uuid4().hex[:8]
ENCODED = quote(PASSWORD, safe="")

# Every spelling of the password that must not show: raw, percent-encoded (also
# as a form encodes it), and as SQLAlchemy renders it in a URL.
RENDERED = sa.URL.create("mysql", username="u", password=PASSWORD, host="h")
SECRETS = {
    PASSWORD,
    ENCODED,
    quote_plus(PASSWORD),
    RENDERED.render_as_string(hide_password=False).split(":", 2)[2].rsplit("@", 1)[0],
}

# The start of every one-line MIGRATION_* error: never "database audit: ...".
SECONDS_FROM = "must be a number of seconds from 0 to"

# What every URL-level refusal of DATABASE_URL begins with.
NOT_A_URL = "DATABASE_URL is not a database URL such as postgresql://"

# A listener of the test's own, which accepts and never answers.
SILENT = "127.0.0.1:{silent}"


@dataclass
class Case:
    """A bad input: the ``DATABASE_URL`` (a template: ``{password}`` percent-encoded,
    ``{user}``, ``{host}``, ``{port}``, ``{database}`` of the ``server`` when one is
    named, ``{silent}`` the silent listener's port), other settings (templates
    too), the command's arguments, and what the one line must say."""

    url: str
    says: str
    settings: dict[str, str] = field(default_factory=dict)
    args: tuple[str, ...] = ("upgrade", "head")
    server: str | None = None  # "postgresql" or "mysql": runs when configured


CASES = {
    # DATABASE_URL that is no database URL.
    "not a url": Case("not a url", f"{NOT_A_URL}"),
    "blank": Case("   ", "it does not parse as scheme://user:password@host"),
    "unknown scheme": Case(
        "foo://u:{password}@x/db", "(Can't load plugin: sqlalchemy.dialects:foo)"
    ),
    "unknown driver": Case(
        "sqlite+nosuch:///x.sqlite", "Can't load plugin: sqlalchemy.dialects:sqlite"
    ),
    "driver not installed": Case(
        "postgresql+psycopg2://u:{password}@127.0.0.1:1/x",
        "DATABASE_URL needs a driver: No module named 'psycopg2'",
    ),
    "port not a number": Case(
        "postgresql://u:{password}@127.0.0.1:port/x", "(its port is not a number)"
    ),
    "port out of range, postgresql": Case(
        "postgresql://u:{password}@127.0.0.1:99999/x",
        "(its port must be from 1 to 65535, not 99999)",
    ),
    "port out of range, mysql": Case(
        "mysql://u:{password}@127.0.0.1:99999/x",
        "(its port must be from 1 to 65535, not 99999)",
    ),
    "no database, mysql": Case(
        "mysql://u:{password}@127.0.0.1:3306/",
        "(it names no database: add /name after the host)",
    ),
    "no database, mariadb": Case(
        "mariadb://u:{password}@127.0.0.1", "(it names no database: add /name"
    ),
    "port zero": Case(
        "mysql://u:{password}@127.0.0.1:0/x", "its port must be from 1 to 65535, not 0"
    ),
    "password not encoded": Case(
        f"mysql://u:{PASSWORD}@127.0.0.1/x", "its port is not a number"
    ),
    # SQLite.
    "sqlite with user, password, host": Case(
        "sqlite://app:{password}@localhost/x.sqlite",
        "DATABASE_URL gives an SQLite database a user, a password and a host, and "
        "an SQLite URL has no user, password, host or port: write "
        "sqlite:///relative/path or sqlite:////absolute/path",
    ),
    "sqlite with a password": Case(
        "sqlite://:{password}@/x.sqlite", "gives an SQLite database a password, and"
    ),
    "sqlite with a port": Case(
        "sqlite://:5/x.sqlite", "gives an SQLite database a port, and"
    ),
    "sqlite timeout not a number": Case(
        "sqlite:///x.sqlite?timeout=abc",
        "DATABASE_URL's query parameter timeout is not usable (could not convert",
    ),
    "sqlite check_same_thread not a boolean": Case(
        "sqlite:///x.sqlite?check_same_thread=maybe",
        "query parameter check_same_thread is not usable",
    ),
    "sqlite folder missing": Case(
        "sqlite:////nonexistent/folder/x.sqlite",
        "unable to open database file /nonexistent/folder/x.sqlite: its folder must "
        "exist",
    ),
    # MariaDB/MySQL query parameters, refused before connecting.
    "mysql connect_timeout not a number": Case(
        "mysql://u:{password}@127.0.0.1:1/x?connect_timeout=abc",
        "DATABASE_URL's query parameter connect_timeout is not usable (invalid "
        "literal for int()",
    ),
    "mysql connect_timeout zero": Case(
        "mysql://u:{password}@127.0.0.1:1/x?connect_timeout=0",
        "query parameter connect_timeout is not usable (connect_timeout should be >0",
    ),
    "mysql read_timeout not a number": Case(
        "mysql://u:{password}@127.0.0.1:1/x?read_timeout=abc",
        "query parameter read_timeout is not usable",
    ),
    "mysql local_infile not a boolean": Case(
        "mysql://u:{password}@127.0.0.1:1/x?local_infile=maybe",
        "query parameter local_infile is not usable",
    ),
    "mysql ssl_ca missing": Case(
        "mysql://u:{password}@127.0.0.1:1/x?ssl_ca=/nonexistent/ca.pem",
        "DATABASE_URL's query parameter ssl_ca is not usable (",
    ),
    "mysql unknown charset": Case(
        "mysql://u:{password}@127.0.0.1:1/x?charset=nosuch",
        "DATABASE_URL's query parameter charset is not usable (the driver does not "
        "know this value): correct it, or leave it out of the URL",
    ),
    "mysql unknown parameter": Case(
        "mysql://u:{password}@127.0.0.1:1/x?charset=utf8mb4&nosuch=1",
        "query parameter nosuch is not usable (the driver has no such parameter)",
    ),
    "mysql charset unknown without keepalives": Case(
        "mysql://u:{password}@127.0.0.1:1/x?charset=nosuch",
        "query parameter charset is not usable",
        {"MIGRATION_NETWORK_TIMEOUT": "0"},
    ),
    # PostgreSQL query parameters: libpq refuses them before connecting.
    "postgresql sslmode unknown": Case(
        "postgresql://u:{password}@127.0.0.1:1/x?sslmode=bogus",
        'invalid sslmode value: "bogus"',
    ),
    "postgresql connect_timeout not a number": Case(
        "postgresql://u:{password}@127.0.0.1:1/x?connect_timeout=abc",
        "bad value for connect_timeout: 'abc'",
    ),
    "postgresql unknown parameter": Case(
        "postgresql://u:{password}@127.0.0.1:1/x?nosuch=1",
        'invalid connection option "nosuch"',
    ),
    # Servers that cannot be reached.
    "postgresql refused": Case(
        "postgresql://u:{password}@127.0.0.1:1/x", "port 1 failed: Connection refused"
    ),
    "mysql refused": Case(
        "mysql://u:{password}@127.0.0.1:1/x",
        "cannot connect to the database: Can't connect to MySQL server on "
        "'127.0.0.1' ([Errno 111] Connection refused)",
    ),
    "postgresql unknown host": Case(
        "postgresql://u:{password}@no-such-host.invalid/x",
        "failed to resolve host 'no-such-host.invalid'",
    ),
    "mysql unknown host": Case(
        "mysql://u:{password}@no-such-host.invalid/x",
        "Can't connect to MySQL server on 'no-such-host.invalid'",
    ),
    "postgresql silent": Case(
        "postgresql://u:{password}@" + SILENT + "/x",
        "cannot connect to the database: no answer within 2 s "
        "(MIGRATION_CONNECT_TIMEOUT)",
        {"MIGRATION_CONNECT_TIMEOUT": "1"},
    ),
    "mysql silent": Case(
        "mysql://u:{password}@" + SILENT + "/x",
        "cannot connect to the database: no answer within 1 s "
        "(MIGRATION_CONNECT_TIMEOUT)",
        {"MIGRATION_CONNECT_TIMEOUT": "1"},
    ),
    # The audit database's URL.
    "audit url malformed": Case(
        "sqlite:///x.sqlite",
        "DATABASE_URL_AUDIT is not a database URL such as postgresql://",
        {"DATABASE_URL_AUDIT": "nonsense"},
    ),
    "audit url unknown scheme": Case(
        "sqlite:///x.sqlite",
        "DATABASE_URL_AUDIT is not a database URL such as postgresql://user:password"
        "@host:5432/name (Can't load plugin: sqlalchemy.dialects:foo)",
        {"DATABASE_URL_AUDIT": "foo://u:{password}@x/db"},
    ),
    "audit sqlite with a password": Case(
        "sqlite:///x.sqlite",
        "DATABASE_URL_AUDIT gives an SQLite database a user and a password",
        {"DATABASE_URL_AUDIT": "sqlite://u:{password}@/audit.sqlite"},
    ),
    "audit unknown charset": Case(
        "sqlite:///x.sqlite",
        "FAILED: DATABASE_URL_AUDIT's query parameter charset is not usable",
        {"DATABASE_URL_AUDIT": "mysql://u:{password}@127.0.0.1:1/x?charset=nosuch"},
    ),
    "audit is the default database": Case(
        "sqlite:///x.sqlite",
        "DATABASE_URL_AUDIT names the default database",
        {"DATABASE_URL_AUDIT": "sqlite:///x.sqlite"},
    ),
    "audit refused": Case(
        "sqlite:///x.sqlite",
        "FAILED: database audit: cannot connect to the database: ",
        {"DATABASE_URL_AUDIT": "postgresql://u:{password}@127.0.0.1:1/x"},
    ),
    # An empty DATABASE_URL_AUDIT is the default SQLite file, which the check
    # that the audit database answers must not leave behind, empty.
    "audit unset, default refused": Case(
        "postgresql://u:{password}@127.0.0.1:1/x",
        "FAILED: cannot connect to the database: ",
        {"DATABASE_URL_AUDIT": ""},
    ),
    # MIGRATION_* settings: the variable and its range, for no one database.
    "lock timeout not a number": Case(
        "sqlite:///x.sqlite",
        f"FAILED: MIGRATION_LOCK_TIMEOUT {SECONDS_FROM} 86400, not 'abc'",
        {"MIGRATION_LOCK_TIMEOUT": "abc"},
    ),
    "run lock wait too long": Case(
        "sqlite:///x.sqlite",
        f"FAILED: MIGRATION_RUN_LOCK_WAIT {SECONDS_FROM} 86400, not '1e300'",
        {"MIGRATION_RUN_LOCK_WAIT": "1e300"},
    ),
    "connect timeout too long": Case(
        "postgresql://u:{password}@127.0.0.1:1/x",
        f"FAILED: MIGRATION_CONNECT_TIMEOUT {SECONDS_FROM} 3600, not '1e10'",
        {"MIGRATION_CONNECT_TIMEOUT": "1e10", "DATABASE_URL_AUDIT": ""},
    ),
    "network timeout negative": Case(
        "mysql://u:{password}@127.0.0.1:1/x",
        f"FAILED: MIGRATION_NETWORK_TIMEOUT {SECONDS_FROM} 3600, not '-1'",
        {"MIGRATION_NETWORK_TIMEOUT": "-1"},
    ),
    "statement timeout nan": Case(
        "sqlite:///x.sqlite",
        f"FAILED: MIGRATION_STATEMENT_TIMEOUT {SECONDS_FROM} 86400, not 'nan'",
        {"MIGRATION_STATEMENT_TIMEOUT": "nan"},
    ),
    "lock retries not whole": Case(
        "sqlite:///x.sqlite",
        "FAILED: MIGRATION_LOCK_RETRIES must be a whole number from 0 to 100, not "
        "'1.5'",
        {"MIGRATION_LOCK_RETRIES": "1.5"},
    ),
    "setting bad for the audit database alone": Case(
        "sqlite:///x.sqlite",
        f"FAILED: MIGRATION_LOCK_TIMEOUT {SECONDS_FROM} 86400, not 'abc'",
        {"MIGRATION_LOCK_TIMEOUT": "abc"},
        ("-n", "audit", "upgrade", "head"),
    ),
    # The command's arguments.
    "unknown revision": Case(
        "sqlite:///x.sqlite",
        "FAILED: Can't locate revision identified by 'deadbeef0000'",
        args=("upgrade", "deadbeef0000"),
    ),
    "downgrade past base": Case(
        "sqlite:///x.sqlite",
        "FAILED: Relative revision -99 didn't produce 99 migrations",
        args=("downgrade", "-99"),
    ),
    "reversed --sql range": Case(
        "postgresql://u:{password}@127.0.0.1:1/x",
        "no revisions lead from head to base this way: check the order of the range",
        args=("upgrade", "head:base", "--sql"),
    ),
    "unknown database named by -x bind": Case(
        "sqlite:///x.sqlite",
        "FAILED: -x bind=nosuch names no database: the databases are default, audit",
        args=("-x", "bind=nosuch", "upgrade", "head"),
    ),
    "two databases named": Case(
        "sqlite:///x.sqlite",
        "-n audit and -x bind=default name two databases: give one",
        args=("-n", "audit", "-x", "bind=default", "upgrade", "head"),
    ),
    # What only a server can say.
    "postgresql unknown database": Case(
        "postgresql://{user}:{password}@{host}:{port}/no_such_database",
        'database "no_such_database" does not exist',
        server="postgresql",
    ),
    "postgresql unknown role": Case(
        "postgresql://nobody_here:{password}@{host}:{port}/{database}",
        'role "nobody_here" does not exist',
        server="postgresql",
    ),
    "mysql unknown database": Case(
        "mysql://{user}@{host}:{port}/no_such_database",
        "cannot connect to the database: Unknown database 'no_such_database'",
        server="mysql",
    ),
    "mysql wrong password": Case(
        "mysql://{user}:{password}@{host}:{port}/{database}",
        "cannot connect to the database: Access denied for user",
        server="mysql",
    ),
    "mysql unknown user": Case(
        "mysql://nobody_here:{password}@{host}:{port}/{database}",
        "Access denied for user 'nobody_here'",
        server="mysql",
    ),
}

# The cases this run can take: a server's only when it is configured.
RUNNABLE = {
    name: case
    for name, case in CASES.items()
    if case.server is None or case.server in configured_backends()
}


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A copy of the project, whose instance folder the cases may write in."""
    return copy_project(tmp_path_factory.mktemp("project"))


@pytest.fixture(scope="module")
def silent_port() -> int:
    """The port of a listener on 127.0.0.1 that accepts connections and never
    answers (its backlog holds them: nothing reads)."""
    with socket.create_server(("127.0.0.1", 0), backlog=16) as listener:
        yield listener.getsockname()[1]


def fields(case: Case, silent_port: int) -> dict[str, str]:
    """The values of a case's templates."""
    values = {"password": ENCODED, "silent": str(silent_port)}
    if case.server is not None:
        url = database_url_from(SERVER_URL_VARIABLES[case.server])
        values.update(
            user=url.username,
            host=url.host,
            port=str(url.port or {"postgresql": 5432, "mysql": 3306}[case.server]),
            database=url.database,
        )
    return values


def empty_sqlite_files(folder: Path) -> list[Path]:
    """The SQLite files in a folder that are empty: left by a command that failed."""
    return [path for path in folder.glob("*.sqlite") if not path.stat().st_size]


@pytest.mark.parametrize("name", list(RUNNABLE))
def test_bad_input_is_one_line_without_the_password(name, project, silent_port):
    """The case's command fails in one line that says what is wrong, shows no
    password and leaves no empty SQLite file in the instance folder."""
    case = RUNNABLE[name]
    values = fields(case, silent_port)
    settings = {key: value.format(**values) for key, value in case.settings.items()}
    instance = project / "instance"
    shutil.rmtree(instance, ignore_errors=True)  # another case's SQLite files
    run = alembic_runner(project, case.url.format(**values), **settings)

    result = run(*case.args)

    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output
    [line] = [each for each in output.splitlines() if each.startswith("FAILED:")]
    assert case.says in line
    assert "database audit: MIGRATION_" not in line
    for secret in SECRETS:
        assert secret not in output
    assert empty_sqlite_files(instance) == []
