"""Offline mode: ``alembic upgrade A:B --sql`` renders every revision for each dialect,
and the rendered script builds the same schema as running the migrations does."""

import io
import re

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.util import CommandError

from app.db import db
from conftest import (
    alembic_config,
    alembic_runner,
    configured_backends,
    copy_project,
    fresh_url,
)
from flask_alembic_kit.autogenerate import models_tables_only
from flask_alembic_kit.offline import OFFLINE_BATCH_REFUSED

# Offline mode connects to nothing: a URL only chooses the dialect.
DIALECT_URLS = {
    "sqlite": "sqlite:///offline.sqlite",
    "postgresql": "postgresql://user:secret@db.invalid/app",
    "mysql": "mysql://user:secret@db.invalid/app",
}


def render_sql(monkeypatch, dialect: str, revision_range: str, downgrade=False) -> str:
    """What ``alembic upgrade|downgrade <range> --sql`` prints for a dialect."""
    monkeypatch.setenv("DATABASE_URL", DIALECT_URLS[dialect])
    config = alembic_config()
    config.output_buffer = io.StringIO()
    run = command.downgrade if downgrade else command.upgrade
    run(config, revision_range, sql=True)
    return config.output_buffer.getvalue()


@pytest.mark.parametrize("dialect", DIALECT_URLS)
def test_every_revision_renders_alone(monkeypatch, dialect, history):
    for revision in history:
        start = revision.down_revision or "base"
        sql = rendered_or_refused(monkeypatch, dialect, f"{start}:{revision.revision}")
        if sql is None:
            continue  # SQLite, through a batch table copy (rendered_or_refused)
        assert (
            f"Running upgrade {revision.down_revision or ''} -> {revision.revision}"
            in sql
        )
        assert f"'{revision.revision}'" in sql
        assert "secret" not in sql


def rendered_or_refused(monkeypatch, dialect: str, revision_range: str, **down):
    """The script for a range, or ``None`` where SQLite cannot render it whole: a
    revision's batch operation copies a table (any ALTER but ADD COLUMN), which
    needs the database; the one line that says so is checked here."""
    try:
        return render_sql(monkeypatch, dialect, revision_range, **down)
    except CommandError as error:
        if dialect != "sqlite":
            raise
        assert str(error).startswith(OFFLINE_BATCH_REFUSED), error
        assert str(error).endswith("nothing was printed")
        return None


@pytest.mark.parametrize("dialect", DIALECT_URLS)
def test_downgrade_renders_back_to_base(monkeypatch, dialect, history):
    sql = rendered_or_refused(monkeypatch, dialect, "head:base", downgrade=True)
    if sql is None:
        return  # SQLite, through a batch drop (above)
    for table in db.metadata.tables:
        assert f"DROP TABLE {table}" in sql
    assert "DELETE FROM alembic_version" in sql


def statements(script: str) -> list[str]:
    """The statements of a rendered script, without comments and transaction lines."""
    found = []
    for chunk in script.split(";\n"):
        lines = [line for line in chunk.splitlines() if not line.startswith("--")]
        statement = "\n".join(lines).strip()
        if statement and statement not in {"BEGIN", "COMMIT"}:
            found.append(statement)
    return found


# The session settings a script sets, read back after it ran, for
# MIGRATION_LOCK_TIMEOUT=3 and MIGRATION_STATEMENT_TIMEOUT=45.
SESSION_TIMEOUTS = {
    "postgresql": (
        "SELECT current_setting('lock_timeout'), current_setting('statement_timeout')",
        ("3s", "45s"),
    ),
    "mysql": (
        "SELECT @@SESSION.lock_wait_timeout, @@SESSION.innodb_lock_wait_timeout, "
        "@@SESSION.max_statement_time",
        (3, 3, 45),
    ),
}


def test_rendered_script_builds_the_models_schema(monkeypatch, database):
    monkeypatch.setenv("MIGRATION_LOCK_TIMEOUT", "3")
    monkeypatch.setenv("MIGRATION_STATEMENT_TIMEOUT", "45")
    script = rendered_or_refused(monkeypatch, database.backend, "base:head")
    if script is None:
        return  # SQLite, through a batch operation that copies a table
    with database.engine.begin() as connection:
        cursor = connection.connection.cursor()  # as psql runs it: % is no marker
        for statement in statements(script):
            cursor.execute(statement)
        # The script starts with the online run's timeouts, and they took effect.
        if database.backend == "sqlite":
            assert "MIGRATION_LOCK_TIMEOUT" not in script  # SQLite has no timeouts
        else:
            assert script.startswith(
                "-- The timeouts the online run sets, from MIGRATION_LOCK_TIMEOUT "
                "(3 s) and MIGRATION_STATEMENT_TIMEOUT (45 s); 0 is no limit."
            )
            query, expected = SESSION_TIMEOUTS[database.backend]
            row = connection.exec_driver_sql(query).one()
            assert (
                tuple(type(e)(value) for e, value in zip(expected, row, strict=True))
                == expected
            )
    with database.engine.connect() as connection:
        models_only = models_tables_only("alembic_version")
        options = {"compare_type": True, "include_name": models_only}
        context = MigrationContext.configure(connection, opts=options)
        assert compare_metadata(context, db.metadata) == []
        assert context.get_current_revision() is not None
    assert database.tables() == {*database.kit_tables(), *db.metadata.tables}


# A revision whose downgrade drops a column in batch mode: SQLite's table copy must
# read the table, which --sql cannot.
DROPS_IN_BATCH = '''"""Nickname

Revision ID: 0ff1e5a1e000
Revises: {parent}
"""

import sqlalchemy as sa
from alembic import op

revision = "0ff1e5a1e000"
down_revision = "{parent}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add it."""
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("nickname", sa.String(40)))


def downgrade() -> None:
    """Drop it."""
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("nickname")
'''


def test_a_script_that_cannot_be_whole_prints_nothing_but_one_line(
    tmp_path, project_history
):
    """``--sql`` on SQLite through a batch drop: one line saying what works, and
    not half a script (the revisions before it used to be printed first)."""
    copy_project(tmp_path)
    parent = project_history[-1].revision
    (tmp_path / "alembic" / "versions" / "nickname.py").write_text(
        DROPS_IN_BATCH.format(parent=parent)
    )
    alembic = alembic_runner(tmp_path, "sqlite:///offline.sqlite")

    up = alembic("upgrade", f"{project_history[0].revision}:head", "--sql")
    down = alembic("downgrade", f"head:{project_history[0].revision}", "--sql")

    assert up.returncode == 0, up.stdout + up.stderr
    assert "ALTER TABLE users ADD COLUMN nickname VARCHAR(40)" in up.stdout
    assert down.returncode != 0
    # Only the database's heading, an SQL comment, comes before the line.
    assert [line for line in down.stdout.splitlines() if line[:2] != "--"] == [
        "FAILED: --sql cannot render a revision's batch operation on users for "
        "SQLite: its table copy reads the table from the database. Run alembic "
        "upgrade on the database itself, or render the script for a server's URL "
        "(DATABASE_URL=postgresql://... or mysql://...); nothing was printed"
    ]
    assert "Traceback" not in down.stderr


# A table with several named unique constraints and indexes, then a batch table
# copy of it that --sql renders (``copy_from``: the table is not read).
MANY_KEYS = 8
MANY_KEYS_TABLE = '''"""Keys

Revision ID: 0ff1e5c0ffee
Revises: {parent}
"""

import sqlalchemy as sa
from alembic import op

revision = "0ff1e5c0ffee"
down_revision = "{parent}"
branch_labels = None
depends_on = None

KEYS = [f"k{{n}}" for n in range({count})]


def keys() -> sa.Table:
    """The table as the batch copy takes it."""
    return sa.Table(
        "keys",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True),
        *[sa.Column(key, sa.Integer) for key in KEYS],
        *[sa.UniqueConstraint(key, name=f"uq_keys_{{key}}") for key in KEYS],
        *[sa.Index(f"ix_keys_{{key}}", key) for key in KEYS],
    )


def upgrade() -> None:
    """Make it, then copy it with one more column."""
    keys().create(op.get_bind())
    with op.batch_alter_table("keys", copy_from=keys(), recreate="always") as batch:
        batch.add_column(sa.Column("extra", sa.Integer))


def downgrade() -> None:
    """Drop it."""
    op.drop_table("keys")
'''


def test_a_table_copy_renders_the_same_script_every_time(tmp_path, project_history):
    """SQLite's batch table copy under ``--sql``: the table's constraints and indexes
    in name order, not in the order of a set, which differs from run to run."""
    copy_project(tmp_path)
    parent = project_history[-1].revision
    (tmp_path / "alembic" / "versions" / "keys.py").write_text(
        MANY_KEYS_TABLE.format(parent=parent, count=MANY_KEYS)
    )
    alembic = alembic_runner(tmp_path, "sqlite:///offline.sqlite")
    rendered = alembic("upgrade", f"{parent}:head", "--sql")
    assert rendered.returncode == 0, rendered.stdout + rendered.stderr
    copy = rendered.stdout[rendered.stdout.index("CREATE TABLE _alembic_tmp_keys") :]
    constraints = re.findall(r"CONSTRAINT (uq_keys_k\d+) UNIQUE", copy)
    indexes = re.findall(r"CREATE UNIQUE INDEX|CREATE INDEX (ix_keys_k\d+)", copy)
    keys = [f"k{n}" for n in range(MANY_KEYS)]
    assert constraints == [f"uq_keys_{key}" for key in keys]
    assert [name for name in indexes if name] == [f"ix_keys_{key}" for key in keys]


# A table with an enum column and a text column: the downgrade drops the text
# column, then the table.
ENUM_TABLE = '''"""Things

Revision ID: 0ff1e5e00000
Revises: {parent}
"""

import sqlalchemy as sa
from alembic import op

revision = "0ff1e5e00000"
down_revision = "{parent}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add them."""
    op.create_table(
        "things",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.Enum("a", "b", name="thing_kind")),
        sa.Column("note", sa.Text),
    )


def downgrade() -> None:
    """Drop them."""
    op.drop_column("things", "note")
    op.drop_table("things")
'''


@pytest.mark.skipif(
    "postgresql" not in configured_backends(), reason="PostgreSQL's enum types"
)
def test_a_downgrade_script_drops_only_the_enum_types_of_what_it_drops(
    tmp_path, project_history
):
    """As the online run does: the script drops the type of the table it drops,
    and keeps an unused type that is not the revision's (another app's, say);
    dropping a TEXT column drops no type."""
    copy_project(tmp_path)
    parent = project_history[-1].revision
    (tmp_path / "alembic" / "versions" / "things.py").write_text(
        ENUM_TABLE.format(parent=parent)
    )
    with fresh_url("postgresql", tmp_path / "unused") as url:
        alembic = alembic_runner(tmp_path, url)
        assert alembic("upgrade", "head").returncode == 0
        engine = sa.create_engine(url)
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE TYPE not_ours AS ENUM ('x')")
        script = alembic("downgrade", f"head:{parent}", "--sql")
        assert script.returncode == 0, script.stdout + script.stderr
        with engine.begin() as connection:
            cursor = connection.connection.cursor()  # as psql runs it: % is no marker
            for statement in statements(script.stdout):
                cursor.execute(statement)
        enums = {enum["name"] for enum in sa.inspect(engine).get_enums()}
        engine.dispose()
    assert enums == {"not_ours"}
