"""``alembic revision --autogenerate`` in a temporary copy of the project, through the
real command line: no model change writes no file, a model change writes one clean
revision that applies and leaves ``alembic check`` clean."""

import os
import re
import select
import subprocess
import sys
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from conftest import (
    SERVER_URL_VARIABLES,
    alembic_runner,
    assert_ruff_clean,
    audit_url_at_head,
    configured_backends,
    copy_project,
    database_url_from,
    fresh_url,
)
from server_databases import fresh_server_database
from tools import lint
from tools.revision_source import RevisionSource

# Each change is an edit to app/models.py: (the text to find, what to put instead).
MODEL_CHANGES = {
    "new column": (
        "    display_name: orm.Mapped[str] = orm.mapped_column(sa.String(80))\n",
        "    display_name: orm.Mapped[str] = orm.mapped_column(sa.String(80))\n"
        "    bio: orm.Mapped[str | None] = orm.mapped_column(sa.Text)\n",
    ),
    "changed type": (
        "title: orm.Mapped[str] = orm.mapped_column(sa.String(200))",
        "title: orm.Mapped[str] = orm.mapped_column(sa.String(300))",
    ),
    "new index": (
        "orm.mapped_column(default=utc_now)",
        "orm.mapped_column(default=utc_now, index=True)",
    ),
    "new foreign key": (
        "    title: orm.Mapped[str]",
        "    reviewer_id: orm.Mapped[int | None] = orm.mapped_column(\n"
        '        sa.ForeignKey("users.id")\n'
        "    )\n"
        "    title: orm.Mapped[str]",
    ),
}


@pytest.fixture
def project(tmp_path, fresh_database_url):
    """A copy of the project, its database migrated to head, and a way to run
    ``alembic`` in it."""
    copy_project(tmp_path)
    alembic = alembic_runner(tmp_path, fresh_database_url)
    assert alembic("upgrade", "head").returncode == 0
    return tmp_path, alembic


def revision_files(path: Path) -> set[Path]:
    """The revision files of the copy."""
    return set((path / "alembic" / "versions").glob("*.py"))


def test_no_model_change_writes_no_revision(project):
    path, alembic = project
    files = revision_files(path)

    result = alembic("revision", "--autogenerate", "-m", "nothing changed")

    assert result.returncode == 0, result.stderr
    assert "No changes in schema detected" in result.stderr
    assert revision_files(path) == files


@pytest.mark.parametrize("change", MODEL_CHANGES)
def test_model_change_writes_one_clean_revision(project, change):
    path, alembic = project
    models = path / "app" / "models.py"
    find, replace = MODEL_CHANGES[change]
    assert find in models.read_text()
    models.write_text(models.read_text().replace(find, replace, 1))
    files = revision_files(path)

    result = alembic("revision", "--autogenerate", "-m", f"model change: {change}")

    assert result.returncode == 0, result.stderr
    [new_file] = revision_files(path) - files
    assert_ruff_clean(new_file, path)

    upgrade = alembic("upgrade", "head")
    assert upgrade.returncode == 0, upgrade.stderr
    check = alembic("check")
    assert check.returncode == 0, check.stderr
    assert "No new upgrade operations detected." in check.stdout
    downgrade = alembic("downgrade", "-1")
    assert downgrade.returncode == 0, downgrade.stderr


def test_a_not_null_column_without_a_default_is_said_in_one_line(project):
    """The draft adds it in one step, which fails on a table with rows: the
    command says so as it writes the file (CTFd's ``challenges.logic``)."""
    path, alembic = project
    models = path / "app" / "models.py"
    logic = "    logic: orm.Mapped[str] = orm.mapped_column(sa.String(10))\n"
    models.write_text(models.read_text().replace(BIO, BIO + logic))

    result = alembic("revision", "--autogenerate", "-m", "Add logic")

    assert result.returncode == 0, result.stderr
    said = [line for line in result.stderr.splitlines() if "users.logic is" in line]
    assert said == [
        "WARNI [alembic.env] users.logic is added NOT NULL without a server default: "
        "the upgrade fails on a table with rows; add it nullable, fill it, then set "
        "NOT NULL, or give it a server_default"
    ]


def test_plain_revision_is_ready_to_be_written_by_hand(tmp_path):
    copy_project(tmp_path)
    alembic = alembic_runner(tmp_path, sa.make_url(f"sqlite:///{tmp_path}/db.sqlite"))
    files = revision_files(tmp_path)

    result = alembic("revision", "-m", "hand written")

    assert result.returncode == 0, result.stderr
    [new_file] = revision_files(tmp_path) - files
    source = new_file.read_text()
    assert "import sqlalchemy as sa\n" in source
    assert "from alembic import op\n" in source
    assert '"""hand written\n' in source


def test_check_prints_each_difference_as_an_operation(project):
    path, alembic = project
    models = path / "app" / "models.py"
    find, replace = MODEL_CHANGES["changed type"]
    models.write_text(models.read_text().replace(find, replace, 1))

    result = alembic("check")

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stdout.splitlines() == [
        "# database audit",
        "No new upgrade operations detected.",
        "# database default",
        "FAILED: the database and the models differ; a revision would contain:",
        "  op.alter_column('posts', 'title', existing_type=sa.VARCHAR(length=200), "
        "type_=sa.String(length=300), existing_nullable=False)",
        'Write it with: alembic revision --autogenerate -m "..."',
    ]


def test_autogenerate_on_a_database_behind_says_what_to_do(project, project_history):
    path, alembic = project
    assert alembic("downgrade", "-1").returncode == 0

    result = alembic("revision", "--autogenerate", "-m", "too early")

    assert result.returncode != 0
    assert result.stdout.strip() == (
        "# database audit\n"
        "# database default\n"
        f"FAILED: the database is at {project_history[-2].revision}, behind head "
        f"{project_history[-1].revision}: run alembic upgrade head first"
    )


REFUSED_SOMEWHERE = """


class Note(db.Model):
    \"\"\"What one database refuses as written: a VARCHAR without a length
    (MariaDB), a trigram index without its extension (PostgreSQL).\"\"\"

    __tablename__ = "notes"
    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    title: orm.Mapped[str] = orm.mapped_column(sa.String())
    __table_args__ = (
        sa.Index(
            "ix_notes_title_trgm",
            "title",
            postgresql_using="gin",
            postgresql_ops={"title": "gin_trgm_ops"},
        ),
    )
"""


def test_autogenerate_says_what_a_database_refuses_as_written(tmp_path):
    """Generated on SQLite, which takes both: one line each, as the file is
    written, for what MariaDB or PostgreSQL would refuse at the upgrade."""
    copy_project(tmp_path)
    alembic = alembic_runner(tmp_path, f"sqlite:///{tmp_path / 'app.sqlite'}")
    assert alembic("upgrade", "head").returncode == 0
    models = tmp_path / "app" / "models.py"
    models.write_text(models.read_text() + REFUSED_SOMEWHERE)

    result = alembic("revision", "--autogenerate", "-m", "Notes")

    assert result.returncode == 0, result.stdout + result.stderr
    warnings = [line for line in result.stderr.splitlines() if "WARNI" in line]
    assert [line.split("] ", 1)[1] for line in warnings] == [
        "notes.title is a String() without a length: MariaDB and MySQL cannot "
        "create it; give it a length, or use sa.Text()",
        "index ix_notes_title_trgm uses a trigram operator class: PostgreSQL needs "
        'the pg_trgm extension first; add op.execute("CREATE EXTENSION IF NOT '
        'EXISTS pg_trgm") before it',
    ]


def test_autogenerate_says_what_it_detected_and_no_chatter(project, fresh_database_url):
    path, alembic = project
    models = path / "app" / "models.py"
    find, replace = MODEL_CHANGES["new column"]
    models.write_text(models.read_text().replace(find, replace, 1))

    result = alembic("revision", "--autogenerate", "-m", "Add user bio")

    assert result.returncode == 0, result.stderr
    assert "Detected added column 'users.bio'" in result.stderr
    assert "setting up autogenerate plugin" not in result.stderr
    assert "Detected sequence named" not in result.stderr  # PostgreSQL's SERIAL note
    if fresh_database_url.get_backend_name() != "mysql":  # true only of MariaDB
        assert "Will assume non-transactional DDL" not in result.stderr
    [new_file] = [
        f for f in revision_files(path) if f.name.endswith("_add_user_bio.py")
    ]
    source = new_file.read_text()
    assert '    """Add user bio."""\n' in source
    assert '    """Undo: Add user bio."""\n' in source
    assert "schema=None" not in source


TAGS = '''

class Tag(db.Model):
    """The issue's model: an Enum with a server default, a boolean, a timestamp."""

    __tablename__ = "tags"
    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    name: orm.Mapped[str] = orm.mapped_column(sa.String(40), unique=True)
    status: orm.Mapped[str] = orm.mapped_column(
        sa.Enum({values}, name="tag_status"), server_default="draft"
    )
    active: orm.Mapped[bool] = orm.mapped_column(server_default=sa.true())
    created: orm.Mapped[datetime] = orm.mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now()
    )
'''


@pytest.fixture(params=[name for name in configured_backends() if name != "sqlite"])
def server_url(request):
    """A fresh database on each configured server."""
    server = database_url_from(SERVER_URL_VARIABLES[request.param])
    with fresh_server_database(server) as url:
        yield url


def test_enum_value_added_on_a_server_runs_everywhere(tmp_path, server_url):
    """Generated where the values are stored (PostgreSQL's pg_enum, MariaDB's
    column), an added value is one op that every database runs: PostgreSQL adds it
    to the type without rewriting the table."""
    copy_project(tmp_path)
    models = tmp_path / "app" / "models.py"
    original = models.read_text()
    versions = tmp_path / "alembic" / "versions"
    generate = alembic_runner(tmp_path, server_url)
    for message, values in (
        ("Add tags", '"draft", "live"'),
        ("Archive tags", '"draft", "live", "archived"'),
    ):
        models.write_text(original + TAGS.format(values=values))
        assert generate("upgrade", "head").returncode == 0
        before = set(versions.glob("*.py"))
        assert generate("revision", "--autogenerate", "-m", message).returncode == 0
    [added] = set(versions.glob("*.py")) - before
    assert (
        'op.alter_enum_values(\n        "tags",\n        "status",\n'
        '        ["draft", "live", "archived"],\n        existing=["draft", "live"],'
    ) in added.read_text()
    parent = re.search(r'down_revision: .* = "(\w+)"', added.read_text()).group(1)
    for target in configured_backends():
        with ExitStack() as stack:
            url = stack.enter_context(fresh_url(target, tmp_path / "target.sqlite"))
            alembic = alembic_runner(tmp_path, url)
            assert alembic("upgrade", parent).returncode == 0
            file_before = table_file(url)
            assert alembic("upgrade", "head").returncode == 0
            assert table_file(url) == file_before  # the value added, no rewrite
            for command in (["check"], ["downgrade", "-1"], ["upgrade", "head"]):
                result = alembic(*command)
                assert result.returncode == 0, (target, command, result.stdout)
            # A row holding the value: dropping it again fails, and changes nothing;
            # on SQLite too, whose CHECK (create_constraint=True) holds the values.
            insert = "INSERT INTO tags (name, status) VALUES ('old', 'archived')"
            engine = sa.create_engine(url)
            with engine.begin() as connection:
                connection.exec_driver_sql(insert)
            engine.dispose()
            result = alembic("downgrade", "-1")
            assert result.returncode != 0
            assert "FAILED: a migration statement failed: " in result.stdout
            # The default database stays at the revision before; the audit one,
            # after it in the run, is not touched.
            current = alembic("current").stdout.splitlines()
            assert current[1].startswith(
                re.search(r'revision: str = "(\w+)"', added.read_text()).group(1)
            )
            assert current[3].endswith("(head)")


def test_enum_values_on_sqlite_are_held_and_compared_like_the_servers(tmp_path):
    """Generated on SQLite: the Enum column's values are a CHECK there
    (``create_constraint=True`` in the file), so a value added that is no longer
    than the others is detected (the VARCHAR's length alone would not show it),
    and on every database the new value is refused before the upgrade and taken
    after it; a row holding it fails the downgrade, which changes nothing."""
    copy_project(tmp_path)
    models = tmp_path / "app" / "models.py"
    original = models.read_text()
    versions = tmp_path / "alembic" / "versions"
    generate = alembic_runner(tmp_path, f"sqlite:///{tmp_path / 'generate.sqlite'}")
    for message, values in (
        ("Add tags", '"draft", "live"'),
        ("Sell tags", '"draft", "live", "sold"'),
    ):
        models.write_text(original + TAGS.format(values=values))
        assert generate("upgrade", "head").returncode == 0
        before = set(versions.glob("*.py"))
        result = generate("revision", "--autogenerate", "-m", message)
        assert result.returncode == 0, result.stdout + result.stderr
    [created] = [path for path in before if path.name.endswith("_add_tags.py")]
    assert 'name="tag_status", create_constraint=True' in created.read_text()
    [added] = set(versions.glob("*.py")) - before
    assert (
        '["draft", "live", "sold"],\n        existing=["draft", "live"],'
    ) in added.read_text()
    assert generate("upgrade", "head").returncode == 0
    assert generate("check").returncode == 0
    parent = re.search(r'down_revision: .* = "(\w+)"', added.read_text()).group(1)
    insert = "INSERT INTO tags (name, status) VALUES ('{0}', '{1}')"
    for target in configured_backends():
        with ExitStack() as stack:
            url = stack.enter_context(fresh_url(target, tmp_path / "target.sqlite"))
            alembic = alembic_runner(tmp_path, url)
            assert alembic("upgrade", parent).returncode == 0
            engine = stack.enter_context(closing_engine(url))
            with pytest.raises(sa.exc.DBAPIError), engine.begin() as connection:
                connection.exec_driver_sql(insert.format("early", "sold"))
            assert alembic("upgrade", "head").returncode == 0, target
            with engine.begin() as connection:
                connection.exec_driver_sql(insert.format("ada", "sold"))
            failed = alembic("downgrade", "-1")
            assert failed.returncode != 0, (target, failed.stdout)
            assert "FAILED: a migration statement failed: " in failed.stdout
            with engine.connect() as connection:
                rows = connection.exec_driver_sql("SELECT name, status FROM tags")
                assert rows.all() == [("ada", "sold")], target
            with engine.begin() as connection:
                connection.exec_driver_sql("UPDATE tags SET status = 'live'")
            for command in (["downgrade", "-1"], ["upgrade", "head"], ["check"]):
                result = alembic(*command)
                assert result.returncode == 0, (target, command, result.stdout)


@contextmanager
def closing_engine(url: sa.URL):
    """An engine on ``url``, disposed of afterwards."""
    engine = sa.create_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


DROPPED_VALUE_MODEL = '''

class Tag(db.Model):
    """An Enum whose last value and default go, and a column that goes with them."""

    __tablename__ = "tags"
    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    status: orm.Mapped[str] = orm.mapped_column(
        sa.Enum({values}, name="tag_status"), server_default={default}
    )
{extra}'''

EXTRA_COLUMN = "    extra: orm.Mapped[str | None] = orm.mapped_column(sa.String(20))\n"


def test_a_dropped_enum_value_held_by_a_row_fails_before_its_table_changes(
    tmp_path, server_url
):
    """A revision that drops an Enum value (its default moving off it) and a
    column of the same table: the value's drop runs before the column's, right
    after the default's change, so that a row still holding the value fails the
    upgrade with the column still there; once the row changes, a rerun passes."""
    copy_project(tmp_path)
    models = tmp_path / "app" / "models.py"
    original = models.read_text()
    versions = tmp_path / "alembic" / "versions"
    generate = alembic_runner(tmp_path, server_url)
    for message, values, default, extra in (
        ("Add tags", '"draft", "live", "archived"', '"archived"', EXTRA_COLUMN),
        ("Drop archived", '"draft", "live"', '"draft"', ""),
    ):
        model = DROPPED_VALUE_MODEL.format(values=values, default=default, extra=extra)
        models.write_text(original + model)
        assert generate("upgrade", "head").returncode == 0
        before = set(versions.glob("*.py"))
        assert generate("revision", "--autogenerate", "-m", message).returncode == 0
    [dropped] = set(versions.glob("*.py")) - before
    upgrade = dropped.read_text().split("def downgrade")[0]
    order = [
        upgrade.index(step)
        for step in ('server_default="draft"', "op.alter_enum_values(", "drop_column")
    ]
    assert order == sorted(order), upgrade
    parent = re.search(r'down_revision: .* = "(\w+)"', dropped.read_text()).group(1)
    for target in [name for name in configured_backends() if name != "sqlite"]:
        server = database_url_from(SERVER_URL_VARIABLES[target])
        with fresh_server_database(server) as url:
            alembic = alembic_runner(tmp_path, url)
            assert alembic("upgrade", parent).returncode == 0
            engine = sa.create_engine(url)
            with engine.begin() as connection:
                connection.exec_driver_sql(
                    "INSERT INTO tags (status, extra) VALUES ('archived', 'kept')"
                )
            failed = alembic("upgrade", "head")
            assert failed.returncode != 0, (target, failed.stdout)
            assert "FAILED: a migration statement failed: " in failed.stdout
            columns = {c["name"] for c in sa.inspect(engine).get_columns("tags")}
            assert "extra" in columns, target
            with engine.begin() as connection:
                connection.exec_driver_sql("UPDATE tags SET status = 'live'")
            rerun = alembic("upgrade", "head")
            assert rerun.returncode == 0, (target, rerun.stdout + rerun.stderr)
            with engine.connect() as connection:
                rows = connection.exec_driver_sql("SELECT status FROM tags").all()
            assert rows == [("live",)]
            assert alembic("check").returncode == 0
            engine.dispose()


RENAMED_VALUE_MODEL = '''

class Tag(db.Model):
    """Two columns of one Enum type, its first value the default."""

    __tablename__ = "tags"
    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    name: orm.Mapped[str] = orm.mapped_column(sa.String(40), unique=True)
    status: orm.Mapped[str] = orm.mapped_column(
        sa.Enum({values}, name="tag_status"), server_default={default}
    )
    previous: orm.Mapped[str | None] = orm.mapped_column(
        sa.Enum({values}, name="tag_status")
    )
'''


@pytest.mark.parametrize("answer", ["y", ""])
def test_renamed_enum_value_is_asked_about(tmp_path, server_url, answer):
    """Generated where the values are stored, a value dropped while another is
    added is asked about; yes renames it, and the rows holding it, everywhere."""
    copy_project(tmp_path)
    models = tmp_path / "app" / "models.py"
    original = models.read_text()
    generate = alembic_runner(tmp_path, server_url)
    assert generate("upgrade", "head").returncode == 0
    first = RENAMED_VALUE_MODEL.format(values='"draft", "live"', default='"draft"')
    models.write_text(original + first)
    assert generate("revision", "--autogenerate", "-m", "Add tags").returncode == 0
    assert generate("upgrade", "head").returncode == 0
    after = RENAMED_VALUE_MODEL.format(values='"pending", "live"', default='"pending"')
    models.write_text(original + after)
    question = (
        "Did you rename the value 'draft' of tag_status (tags.status) to 'pending'? "
        "[y/N]"
    )  # one type, two columns: asked once
    added = written_on_a_terminal(tmp_path, server_url, answer, question)
    source = added.read_text()
    rules = {found.rule for found, _ in lint.lint(RevisionSource.parse(added))}
    if answer != "y":
        assert "# Renamed? This drops 'draft' from tag_status" in source
        assert 'renamed={"draft": "pending"}' not in source
        assert "enum-value-dropped" in rules
        return
    upgrade, downgrade = source.split("def downgrade")
    assert 'renamed={"draft": "pending"}' in upgrade
    assert 'renamed={"pending": "draft"}' in downgrade
    assert rules >= {"enum-value-renamed"} and "enum-value-dropped" not in rules
    parent = re.search(r'down_revision: .* = "(\w+)"', source).group(1)
    for target in configured_backends():
        with ExitStack() as stack:
            url = stack.enter_context(fresh_url(target, tmp_path / "target.sqlite"))
            alembic = alembic_runner(tmp_path, url)
            assert alembic("upgrade", parent).returncode == 0
            engine = stack.enter_context(disposing(sa.create_engine(url)))
            with engine.begin() as connection:
                connection.exec_driver_sql(
                    "INSERT INTO tags (name, status, previous) VALUES "
                    "('a', 'draft', 'draft'), ('b', 'live', NULL)"
                )
            file_before = table_file(url)
            statuses = "SELECT name, status, previous FROM tags ORDER BY name"
            renamed_rows = [("a", "pending", "pending"), ("b", "live", None)]
            for command, expected in (
                (["upgrade", "head"], renamed_rows),
                (["check"], renamed_rows),
                (["downgrade", "-1"], [("a", "draft", "draft"), ("b", "live", None)]),
                (["upgrade", "head"], renamed_rows),
            ):
                result = alembic(*command)
                assert result.returncode == 0, (target, command, result.stdout)
                with engine.connect() as connection:
                    rows = connection.exec_driver_sql(statuses).all()
                assert [tuple(row) for row in rows] == expected, (target, command)
            assert table_file(url) == file_before  # PostgreSQL: a label renamed
            with engine.begin() as connection:  # the default renamed with it
                connection.exec_driver_sql("INSERT INTO tags (name) VALUES ('c')")
                default = "SELECT status FROM tags WHERE name = 'c'"
                assert connection.exec_driver_sql(default).scalar() == "pending"
            if target == "sqlite":
                continue  # a table copy: batch mode renders on a live database only
            script = alembic("upgrade", f"{parent}:head", "--sql")
            assert script.returncode == 0, (target, script.stderr)
            expected = "RENAME VALUE" if target == "postgresql" else "UPDATE tags"
            assert expected in script.stdout


@contextmanager
def disposing(engine: sa.Engine):
    """An engine, disposed of at the end."""
    try:
        yield engine
    finally:
        engine.dispose()


def table_file(url: sa.URL) -> int | None:
    """PostgreSQL's file of the tags table, which a rewrite replaces (else None)."""
    if url.get_backend_name() != "postgresql":
        return None
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        query = "SELECT relfilenode FROM pg_class WHERE relname = 'tags'"
        number = connection.exec_driver_sql(query).scalar()
    engine.dispose()
    return number


def test_not_null_column_on_a_table_with_rows_fails_everywhere(
    project, fresh_database_url, project_history
):
    """SQLite and PostgreSQL refuse it; MariaDB would fill '' in every row, and is
    made to refuse it too (a rename written as drop and add would lose the data)."""
    path, alembic = project
    engine = sa.create_engine(fresh_database_url)
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO users (username, email, display_name) "
            "VALUES ('ada', 'ada@example.org', 'Ada')"
        )
    models = path / "app" / "models.py"
    find = "    display_name: orm.Mapped[str] = orm.mapped_column(sa.String(80))\n"
    models.write_text(
        models.read_text().replace(
            find,
            find + "    nickname: orm.Mapped[str] = orm.mapped_column(sa.String(40))\n",
        )
    )
    assert alembic("revision", "--autogenerate", "-m", "Add nickname").returncode == 0

    result = alembic("upgrade", "head")

    assert result.returncode != 0
    [line] = [x for x in result.stdout.splitlines() if x.startswith("FAILED: ")]
    if fresh_database_url.get_backend_name() == "mysql":
        assert line.startswith(
            "FAILED: column nickname of users is NOT NULL without a default, and the "
            "table has rows: MariaDB would fill them with '' or 0."
        )
    assert (
        f"The database is at {project_history[-1].revision}, the last revision" in line
    )
    columns = {c["name"] for c in sa.inspect(engine).get_columns("users")}
    with engine.connect() as connection:
        rows = connection.exec_driver_sql("SELECT username FROM users").all()
    engine.dispose()
    assert "nickname" not in columns
    assert rows == [("ada",)]


BIO = "    display_name: orm.Mapped[str] = orm.mapped_column(sa.String(80))\n"


def written_on_a_terminal(path: Path, url: sa.URL, answer: str, question: str):
    """``alembic revision --autogenerate`` in the copy at ``path`` on a
    pseudo-terminal, answering its one ``question``: the file it wrote, checked
    ruff-clean."""
    files = revision_files(path)
    printed = on_a_terminal(
        path, url, answer, "revision", "--autogenerate", "-m", "Rename"
    )
    assert printed.count(question) == 1, printed
    [new_file] = revision_files(path) - files
    assert_ruff_clean(new_file, path)
    return new_file


def on_a_terminal(cwd: Path, url: sa.URL, answer: str, *args: str) -> str:
    """Run ``alembic <args>`` on a pseudo-terminal (stdin, stdout and stderr, where
    Python's ``input`` writes its prompt on a terminal), answering its question;
    return what it printed there."""
    main, terminal = os.openpty()
    environment = {
        **os.environ,
        "DATABASE_URL": url.render_as_string(False),
        "DATABASE_URL_AUDIT": audit_url_at_head(),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "alembic", *args],
        cwd=cwd,
        env=environment,
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
    )
    os.close(terminal)
    printed = b""
    deadline = time.monotonic() + 60
    while b"[y/N]" not in printed:
        ready, _, _ = select.select([main], [], [], max(0, deadline - time.monotonic()))
        assert ready, f"no question within 60 s: {printed!r}"
        chunk = os.read(main, 1024)
        assert chunk, printed
        printed += chunk
    os.write(main, answer.encode() + b"\n")
    while process.poll() is None:  # keep reading, so that it never blocks on output
        try:
            printed += os.read(main, 1024)
        except OSError:  # the terminal closed with the process
            break
    assert process.wait(timeout=60) == 0, printed
    os.close(main)
    return printed.decode()


@pytest.mark.parametrize("answer", ["y", ""])
def test_renamed_column_is_asked_about(project, fresh_database_url, answer, request):
    path, alembic = project
    models = path / "app" / "models.py"
    text = models.read_text()
    bio = "    bio: orm.Mapped[str | None] = orm.mapped_column(sa.Text)\n"
    models.write_text(text.replace(BIO, BIO + bio))
    assert alembic("revision", "--autogenerate", "-m", "Add bio").returncode == 0
    assert alembic("upgrade", "head").returncode == 0
    engine = sa.create_engine(fresh_database_url)
    request.addfinalizer(engine.dispose)
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO users (username, email, display_name, bio) "
            "VALUES ('ada', 'ada@example.org', 'Ada', 'Counts.')"
        )
    models.write_text(text.replace(BIO, BIO + bio.replace("bio:", "biography:")))

    question = "Did you rename users.bio to users.biography (TEXT)? [y/N]"
    new_file = written_on_a_terminal(path, fresh_database_url, answer, question)

    source = new_file.read_text()
    if answer == "y":
        upgrade, downgrade = source.split("def downgrade")
        assert 'alter_column(\n            "bio",' in upgrade
        assert 'new_column_name="biography"' in upgrade
        assert 'alter_column(\n            "biography",' in downgrade
        assert 'new_column_name="bio"' in downgrade
        assert "drop_column" not in source
        assert alembic("upgrade", "head").returncode == 0
        assert alembic("check").returncode == 0
        with engine.connect() as connection:
            kept = connection.exec_driver_sql("SELECT biography FROM users").all()
        assert kept == [("Counts.",)]
        assert alembic("downgrade", "-1").returncode == 0
    else:
        assert (
            "# Renamed? This drops users.bio and its data, then adds users.biography."
        ) in source
        assert 'batch_op.drop_column("bio")' in source
        findings = lint.lint(RevisionSource.parse(new_file))
        assert "drop-and-add" in {found.rule for found, _ in findings}
    engine.dispose()


def test_a_renamed_unique_column_keeps_its_constraint(project, fresh_database_url):
    """``y`` to a unique column's rename: its unique constraint goes with it, by its
    new name (the naming convention's), on every database, SQLite's table copy
    included; the revision goes down and up again."""
    path, alembic = project
    models = path / "app" / "models.py"
    text = models.read_text()
    handle = "    handle: orm.Mapped[str | None] = orm.mapped_column(\n"
    handle += "        sa.String(40), unique=True\n    )\n"
    models.write_text(text.replace(BIO, BIO + handle))
    assert alembic("revision", "--autogenerate", "-m", "Add handle").returncode == 0
    assert alembic("upgrade", "head").returncode == 0
    models.write_text(text.replace(BIO, BIO + handle.replace("handle:", "nick:")))

    question = "Did you rename users.handle to users.nick (VARCHAR(40))? [y/N]"
    written_on_a_terminal(path, fresh_database_url, "y", question)

    for command in (("upgrade", "head"), ("check",)):
        result = alembic(*command)
        assert result.returncode == 0, result.stdout + result.stderr
    engine = sa.create_engine(fresh_database_url)
    try:
        uniques = sa.inspect(engine).get_unique_constraints("users")
        assert ("uq_users_nick", ("nick",)) in {
            (each["name"], tuple(each["column_names"])) for each in uniques
        }
        insert = (
            "INSERT INTO users (username, email, display_name, nick) "
            "VALUES ('{0}', '{0}@example.org', 'X', 'same')"
        )
        with engine.begin() as connection:
            connection.exec_driver_sql(insert.format("ada"))
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
            connection.exec_driver_sql(insert.format("bob"))
        down = alembic("downgrade", "-1")
        assert down.returncode == 0, down.stdout + down.stderr
        uniques = sa.inspect(engine).get_unique_constraints("users")
        assert ("uq_users_handle", ("handle",)) in {
            (each["name"], tuple(each["column_names"])) for each in uniques
        }
        up = alembic("upgrade", "head")
        assert up.returncode == 0, up.stdout + up.stderr
        with engine.connect() as connection:
            kept = connection.exec_driver_sql("SELECT nick FROM users").all()
        assert kept == [("same",)]
    finally:
        engine.dispose()


POSTS = '    __tablename__ = "posts"\n'
POST_CONSTRAINTS = (
    "    __table_args__ = (\n"
    '        sa.UniqueConstraint("user_id", "title"),\n'
    '        sa.CheckConstraint("length(title) > 0", name="title_length"),\n'
    "    )\n"
)


DRAFTS = '''

class Draft(db.Model):
    """A new table under the name a renamed table had."""

    __tablename__ = "posts"
    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    user_id: orm.Mapped[int] = orm.mapped_column(sa.ForeignKey("users.id"), index=True)
'''


@pytest.mark.parametrize("answer", ["y", ""])
def test_renamed_table_is_asked_about(project, fresh_database_url, answer, request):
    """A table renamed in the models, with an index, a unique and a CHECK constraint
    named after it: yes renames it, and what carries its name, keeping the rows."""
    path, alembic = project
    models = path / "app" / "models.py"
    text = models.read_text().replace(POSTS, POSTS + POST_CONSTRAINTS)
    models.write_text(text)
    assert alembic("revision", "--autogenerate", "-m", "Post rules").returncode == 0
    assert alembic("upgrade", "head").returncode == 0
    engine = sa.create_engine(fresh_database_url)
    request.addfinalizer(engine.dispose)
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO users (id, username, email, display_name) "
            "VALUES (1, 'ada', 'ada@example.org', 'Ada')"
        )
        connection.exec_driver_sql(
            "INSERT INTO posts (user_id, title, body, created_at) "
            "VALUES (1, 'Notes', 'On the engine.', '2026-11-29 10:00:00')"
        )
    models.write_text(text.replace(POSTS, POSTS.replace("posts", "articles")))

    question = "Did you rename table posts to articles? [y/N]"
    new_file = written_on_a_terminal(path, fresh_database_url, answer, question)

    source = new_file.read_text()
    if answer == "y":
        upgrade, downgrade = source.split("def downgrade")
        assert 'op.rename_table("posts", "articles")' in upgrade
        assert 'op.rename_table("articles", "posts")' in downgrade
        if fresh_database_url.get_backend_name() != "mysql":  # MariaDB: PRIMARY
            assert '"pk_posts": "pk_articles"' in upgrade
        assert '"fk_posts_user_id_users": "fk_articles_user_id_users"' in upgrade
        assert "drop_table" not in source
        for command in (["upgrade", "head"], ["check"], ["downgrade", "-1"]):
            result = alembic(*command)
            assert result.returncode == 0, (command, result.stdout)
        with engine.connect() as connection:
            kept = connection.exec_driver_sql("SELECT title FROM posts").all()
        assert kept == [("Notes",)]
        assert alembic("upgrade", "head").returncode == 0
        with engine.connect() as connection:
            kept = connection.exec_driver_sql("SELECT title FROM articles").all()
        assert kept == [("Notes",)]
        assert alembic("check").returncode == 0
        # The keys, indexes and sequences took the new name: "posts" is free again.
        models.write_text(models.read_text() + DRAFTS)
        result = alembic("revision", "--autogenerate", "-m", "Drafts")
        assert result.returncode == 0, result.stderr
        for command in (["upgrade", "head"], ["check"]):
            result = alembic(*command)
            assert result.returncode == 0, (command, result.stdout)
    else:
        assert "# Renamed? This drops table posts and its rows" in source
        upgrade, downgrade = source.split("def downgrade")
        assert upgrade.index("# Renamed?") < upgrade.index('"articles"')
        assert downgrade.index("# Renamed?") < downgrade.index('"posts"')


def test_without_a_terminal_a_rename_is_not_asked(project):
    path, alembic = project
    models = path / "app" / "models.py"
    models.write_text(models.read_text().replace("display_name:", "shown_name:"))

    result = alembic("revision", "--autogenerate", "-m", "Rename display name")

    assert result.returncode == 0
    assert "Did you rename" not in result.stdout + result.stderr
    [new_file] = [f for f in revision_files(path) if "rename_display" in f.name]
    assert "# Renamed? This drops users.display_name and its data" in (
        new_file.read_text()
    )


def test_check_constraint_is_found_by_name_not_by_expression(project):
    """Pinned limit (docs/autogenerate.md): a named CHECK
    constraint added is detected; its expression changed under the same name is
    not, on any database."""
    path, alembic = project
    models = path / "app" / "models.py"
    original = models.read_text()
    posts = '    __tablename__ = "posts"\n'
    check = (
        '    __table_args__ = (sa.CheckConstraint("{rule}", name="title_length"),)\n'
    )
    files = revision_files(path)
    models.write_text(
        original.replace(posts, posts + check.format(rule="length(title) > 0"))
    )
    assert alembic("revision", "--autogenerate", "-m", "Check titles").returncode == 0
    [added] = revision_files(path) - files
    assert (
        'create_check_constraint(\n            batch_op.f("ck_posts_title_length")'
        in (added.read_text())
    )
    assert alembic("upgrade", "head").returncode == 0
    assert alembic("check").returncode == 0

    models.write_text(
        original.replace(posts, posts + check.format(rule="length(title) > 1"))
    )
    result = alembic("revision", "--autogenerate", "-m", "Changed check")
    assert result.returncode == 0
    assert "No changes in schema detected" in result.stderr
    assert revision_files(path) - files == {added}
