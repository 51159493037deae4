"""The backfill helper (``flask_alembic_kit/backfill.py``) in revisions run by the real
``alembic`` command, on every database: expand (A adds ``users.nickname``
nullable), backfill (B fills it from ``username`` with ``fill_column``), contract (C
sets NOT NULL)."""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from conftest import Database, alembic_runner, copy_project, failed_line

ROWS = 2000
# Batches of a fixed size, so that a few thousand rows make several of them.
BATCH = 300

EXPAND, BACKFILL, CONTRACT = "aaaa00000001", "aaaa00000002", "aaaa00000003"

REVISION = '''"""{message}"""

import sqlalchemy as sa
from alembic import op

from flask_alembic_kit.backfill import fill_column

revision = "{revision}"
down_revision = "{down_revision}"
branch_labels = None
depends_on = None

users = sa.Table(
    "users",
    sa.MetaData(),
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("username", sa.String(80), nullable=False),
    sa.Column("nickname", sa.String(80), nullable=True),
)


def upgrade() -> None:
    """Apply this revision."""
{upgrade}


def downgrade() -> None:
    """Revert this revision."""
{downgrade}
'''

ADD_NICKNAME = """\
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("nickname", sa.String(80), nullable=True))"""
DROP_NICKNAME = """\
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("nickname")"""
FILL_NICKNAME = f"""\
    fill_column(
        users,
        "nickname",
        users.c.username,
        first_batch={BATCH},
        min_batch={BATCH},
        max_batch={BATCH},
    )"""
NICKNAME_NULLABLE = """\
    with op.batch_alter_table("users", copy_from=users) as batch_op:
        batch_op.alter_column(
            "nickname", existing_type=sa.String(80), nullable={nullable}
        )"""


def write_revision(
    project: Path, revision: str, down_revision: str, upgrade: str, downgrade: str
) -> None:
    """Add a revision file to the project copy's history."""
    path = project / "alembic" / "versions" / f"2099_01_01-{revision}_backfill.py"
    path.write_text(
        REVISION.format(
            message=f"Backfill test revision {revision}",
            revision=revision,
            down_revision=down_revision,
            upgrade=upgrade,
            downgrade=downgrade,
        )
    )


@dataclass
class Project:
    """A copy of the project and the ``alembic`` command on a fresh database."""

    path: Path
    alembic: Callable


@pytest.fixture
def project(tmp_path, database, project_history) -> Project:
    """A copy of the project with revisions A, B and C on top of its head."""
    path = copy_project(tmp_path / "project")
    head = project_history[-1].revision
    write_revision(path, EXPAND, head, ADD_NICKNAME, DROP_NICKNAME)
    write_revision(path, BACKFILL, EXPAND, FILL_NICKNAME, "    pass")
    write_revision(
        path,
        CONTRACT,
        BACKFILL,
        NICKNAME_NULLABLE.format(nullable=False),
        NICKNAME_NULLABLE.format(nullable=True),
    )
    return Project(path, alembic_runner(path, database.url))


def migrate(project: Project, *args: str) -> str:
    """Run ``alembic <args>``, which must succeed; return its log (stderr)."""
    result = project.alembic(*args)
    assert result.returncode == 0, result.stderr
    return result.stderr


def add_users(database: Database, prefilled: dict[int, str]) -> None:
    """Insert ``ROWS`` users (``user-<id>``), ``nickname`` set only in ``prefilled``."""
    names = ("id", "username", "email", "display_name", "nickname")
    users = sa.table("users", *(sa.column(name) for name in names))
    rows = [
        {
            "id": n,
            "username": f"user-{n}",
            "email": f"user-{n}@example.org",
            "display_name": f"User {n}",
            "nickname": prefilled.get(n),
        }
        for n in range(1, ROWS + 1)
    ]
    with database.engine.begin() as connection:
        connection.execute(users.insert(), rows)


def nicknames(database: Database) -> dict[int, str | None]:
    """Every user's nickname by id."""
    with database.engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT id, nickname FROM users"))
        return {n: nickname for n, nickname in rows}


def nickname_column(database: Database) -> dict | None:
    """The reflected ``users.nickname`` column, or None."""
    columns = sa.inspect(database.engine).get_columns("users")
    return next((c for c in columns if c["name"] == "nickname"), None)


def usernames() -> dict[int, str]:
    """What the backfill writes: every user's username by id."""
    return {n: f"user-{n}" for n in range(1, ROWS + 1)}


def test_expand_backfill_contract(project, database, project_history):
    migrate(project, "upgrade", EXPAND)
    prefilled = {n: f"chosen-{n}" for n in range(1, ROWS + 1, 10)}
    add_users(database, prefilled)

    log = migrate(project, "upgrade", "head")

    assert nicknames(database) == usernames() | prefilled
    assert nickname_column(database)["nullable"] is False
    assert database.current() == CONTRACT
    if database.backend == "sqlite":
        assert "batches" not in log  # one set-based UPDATE
    else:
        # From row 2, the first NULL, in batches of 300: 1,800 rows were NULL.
        assert "users.nickname: filling from id = 2" in log
        assert "users.nickname: filled 1800 rows in 7 batches" in log

    migrate(project, "downgrade", project_history[-1].revision)
    assert nickname_column(database) is None
    assert len(database.rows()["users"]) == ROWS

    migrate(project, "upgrade", "head")
    assert nicknames(database) == usernames()


def test_rows_filled_before_are_left_alone(project, database):
    migrate(project, "upgrade", EXPAND)
    chosen = {n: f"chosen-{n}" for n in range(1, ROWS + 1)}
    add_users(database, chosen)

    log = migrate(project, "upgrade", "head")

    assert nicknames(database) == chosen
    if database.backend != "sqlite":
        assert "users.nickname: no row to fill" in log


def test_sql_renders_one_update(project, database):
    result = project.alembic("upgrade", f"{EXPAND}:{BACKFILL}", "--sql")

    assert result.returncode == 0, result.stderr
    updates = [
        line for line in result.stdout.splitlines() if line.startswith("UPDATE users")
    ]
    assert updates == [
        "UPDATE users SET nickname=users.username WHERE users.nickname IS NULL;"
    ]


def test_failed_batch_keeps_the_batches_before_it(project, database):
    """Row 5 already holds row 1000's username, and a unique index forbids a second
    one: the batch that reaches row 1000 fails. On the servers the batches before it
    stay committed; on SQLite the one UPDATE is rolled back. Either way the version
    stays at A, and a rerun after the cause is removed finishes."""
    migrate(project, "upgrade", EXPAND)
    add_users(database, {5: "user-1000"})
    with database.engine.begin() as connection:
        connection.execute(
            sa.text("CREATE UNIQUE INDEX ix_nickname_once ON users (nickname)")
        )

    result = project.alembic("upgrade", "head")

    assert result.returncode != 0
    assert failed_line(result.stdout + result.stderr).startswith(
        "FAILED: a migration statement failed: "
    )
    assert database.current() == EXPAND
    filled = {n: name for n, name in nicknames(database).items() if name is not None}
    if database.backend == "sqlite":
        assert filled == {5: "user-1000"}
    else:
        # Rows 1-300, 301-600 and 601-900 committed; the batch 901-1200 failed.
        kept = {n: f"user-{n}" for n in range(1, 901)}
        assert filled == kept | {5: "user-1000"}

    with database.engine.begin() as connection:
        connection.execute(sa.text("UPDATE users SET nickname = 'chosen' WHERE id = 5"))
    log = migrate(project, "upgrade", "head")

    assert database.current() == CONTRACT
    assert nicknames(database) == usernames() | {5: "chosen"}
    if database.backend != "sqlite":
        assert "users.nickname: filling from id = 901" in log
        assert "users.nickname: filled 1100 rows in 4 batches" in log


def test_in_the_callers_transaction_one_update_the_caller_owns(project, database):
    """A connection handed in inside the caller's transaction runs as the caller's
    (env.py): one UPDATE in that transaction, which batches would have committed."""
    migrate(project, "upgrade", EXPAND)
    add_users(database, {})
    config = Config(project.path / "alembic.ini")
    with database.engine.connect() as connection, connection.begin() as transaction:
        config.attributes["connection"] = connection
        command.upgrade(config, BACKFILL)
        filled = connection.execute(
            sa.text("SELECT COUNT(*) FROM users WHERE nickname IS NOT NULL")
        ).scalar_one()
        transaction.rollback()

    assert filled == ROWS
    assert set(nicknames(database).values()) == {None}
    assert database.current() == EXPAND


@pytest.mark.parametrize(
    "columns, shown",
    [
        (
            'sa.Column("a", sa.Integer(), primary_key=True), '
            'sa.Column("b", sa.Integer(), primary_key=True)',
            "a INTEGER, b INTEGER",
        ),
        ('sa.Column("code", sa.String(20), primary_key=True)', "code VARCHAR(20)"),
    ],
    ids=["composite", "text"],
)
def test_primary_key_must_be_one_integer_column(project, database, columns, shown):
    upgrade = (
        f'    tags = sa.Table("tags", sa.MetaData(), {columns}, '
        'sa.Column("label", sa.String(80)))\n'
        '    fill_column(tags, "label", sa.literal("x"))'
    )
    write_revision(project.path, BACKFILL, EXPAND, upgrade, "    pass")
    migrate(project, "upgrade", EXPAND)

    result = project.alembic("upgrade", "head")

    assert result.returncode != 0
    assert failed_line(result.stdout + result.stderr) == (
        "FAILED: fill_column pages through tags by its primary key, which must be a "
        f"single integer column (it is: {shown}); fill this table with one "
        "set-based UPDATE instead (op.execute(table.update()...))"
    )
    assert database.current() == EXPAND


def test_a_where_refills_stale_values_as_well(project, database):
    migrate(project, "upgrade", EXPAND)
    stale = {n: f"stale-{n}" for n in range(1, ROWS + 1, 3)}
    add_users(database, stale)
    write_revision(
        project.path,
        BACKFILL,
        EXPAND,
        FILL_NICKNAME.replace(
            "users.c.username,",
            "users.c.username,\n        "
            "where=users.c.nickname.is_distinct_from(users.c.username),",
        ),
        "    pass",
    )

    migrate(project, "upgrade", BACKFILL)

    assert nicknames(database) == usernames()
