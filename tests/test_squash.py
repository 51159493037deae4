"""``migration-squash``: a history squashed into one baseline builds the same schema
on every database, databases at or past the baseline keep working without a stamp,
and a database behind it is refused in one line, unchanged.

Each squash runs once per module on a copy of the project in a git repository; the
schemas are compared with ``schema-snapshot``'s text on fresh databases.
"""

import os
import shutil
import subprocess
import sys
from contextlib import nullcontext
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.dialects import postgresql as postgresql_types
from test_errors import failed_line

from app import create_app
from app.db import db
from conftest import (
    SERVER_URL_VARIABLES,
    alembic_runner,
    assert_ruff_clean,
    configured_backends,
    copy_project,
    database_url_from,
)
from in_process import importing_from
from server_databases import fresh_server_database
from tools import baseline, squash
from tools.gitrepo import git
from tools.snapshot import schema_text

FIRST, USERS, POSTS, DISPLAY_NAME = (
    "f800a65a1a3a",
    "ef55ddbae804",
    "e5d5fd2d0a27",
    "bb4b390c7d31",
)
STEPS = 50


def committed_copy(destination: Path, source: Path | None = None) -> Path:
    """A copy of the project (or of ``source``, git history included) with every
    file committed."""
    if source is not None:
        shutil.copytree(source, destination)
        return destination
    copy_project(destination)
    git(destination, "init", "-q", "-b", "main")
    git(destination, "add", "-A")
    git(
        destination,
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@t",
        "commit",
        "-qm",
        "project",
    )
    return destination


def commit_all(project: Path, message: str) -> None:
    """Commit every change in the project."""
    git(project, "add", "-A")
    git(project, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message)


def run_squash(project: Path, *args: str, capsys) -> tuple[int, str, str]:
    """``migration-squash`` in-process on the project: status, out, err."""
    with importing_from(project):
        status = squash.main(["-c", str(project / "alembic.ini"), *args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def revision_files(project: Path) -> dict[str, Path]:
    """The project's revision files by revision id."""
    script = ScriptDirectory.from_config(Config(str(project / "alembic.ini")))
    return {each.revision: Path(each.path) for each in script.walk_revisions()}


def upgraded_schema(project: Path, url: sa.URL, revision: str = "head") -> str:
    """The schema text after ``alembic upgrade`` of the project on ``url``."""
    engine = sa.create_engine(url)
    try:
        config = Config(str(project / "alembic.ini"))
        config.attributes["connection"] = engine
        command.upgrade(config, revision)
        return schema_text(engine, "the same head")
    finally:
        engine.dispose()


def fresh_database(backend: str, tmp_path: Path, name: str):
    """A context giving the URL of a fresh database on ``backend``."""
    if backend == "sqlite":
        return nullcontext(sa.URL.create("sqlite", database=str(tmp_path / name)))
    return fresh_server_database(database_url_from(SERVER_URL_VARIABLES[backend]))


def assert_same_schema(old: Path, new: Path, backend: str, tmp_path: Path) -> None:
    """The old and the squashed history build the same schema on ``backend``."""
    with fresh_database(backend, tmp_path, "old") as url:
        before = upgraded_schema(old, url)
    with fresh_database(backend, tmp_path, "new") as url:
        after = upgraded_schema(new, url)
    assert after == before


# --- The project's own history, squashed at the posts revision and at head. ---


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """The project as it is, committed in a git repository of its own."""
    return committed_copy(tmp_path_factory.mktemp("old") / "project")


@pytest.fixture(scope="module")
def squashed_at_posts(project, tmp_path_factory) -> tuple[Path, str]:
    """The project squashed at the posts revision, and the command's output."""
    copy = committed_copy(tmp_path_factory.mktemp("posts") / "project", project)
    with importing_from(copy):
        status = squash.main(["-c", str(copy / "alembic.ini"), POSTS])
    assert status == 0
    return copy


def test_squash_writes_one_baseline_with_the_revisions_own_id(
    project, squashed_at_posts
):
    files = revision_files(squashed_at_posts)
    assert set(files) == {POSTS, DISPLAY_NAME}
    baseline = ScriptDirectory.from_config(
        Config(str(squashed_at_posts / "alembic.ini"))
    ).get_revision(POSTS)
    assert baseline.down_revision is None
    assert baseline.module.squashed == (FIRST, USERS)
    # The revision after it is untouched, and the baseline sorts before it.
    assert (
        files[DISPLAY_NAME].read_bytes()
        == revision_files(project)[DISPLAY_NAME].read_bytes()
    )
    assert sorted(files.values()) == [files[POSTS], files[DISPLAY_NAME]]
    text = files[POSTS].read_text()
    assert 'op.create_table(\n        "users",' in text
    assert 'sa.PrimaryKeyConstraint("id", name=op.f("pk_users"))' in text
    assert 'ondelete="CASCADE"' in text
    assert f"- {USERS} Adding users table" in text
    assert_ruff_clean(files[POSTS], squashed_at_posts)
    # The change is the squash alone: three files deleted, one added.
    status = git(squashed_at_posts, "status", "--porcelain").splitlines()
    assert sorted(line[:2] for line in status) == [" D", " D", " D", "??"]


@pytest.mark.parametrize("backend", configured_backends())
def test_the_squashed_history_builds_the_same_schema(
    backend, project, squashed_at_posts, tmp_path
):
    assert_same_schema(project, squashed_at_posts, backend, tmp_path)
    with fresh_database(backend, tmp_path, "check") as url:
        alembic = alembic_runner(squashed_at_posts, url)
        assert alembic("upgrade", "head").returncode == 0
        checked = alembic("check")
        assert checked.returncode == 0, checked.stderr
        # The baseline goes down and up again.
        assert alembic("downgrade", "base").returncode == 0
        assert alembic("upgrade", "head").returncode == 0


INSERT_USER = "INSERT INTO users (id, username, email) VALUES (:id, :username, :email)"
USERS_ROWS = [
    {"id": 1, "username": "ada", "email": "ada@example.com"},
    {"id": 2, "username": "bob", "email": "bob@example.com"},
]


@pytest.mark.parametrize("backend", configured_backends())
def test_databases_at_or_past_the_baseline_need_no_stamp(
    backend, project, squashed_at_posts, tmp_path
):
    with fresh_database(backend, tmp_path, "deployed") as url:
        # Deployed with the old history, at the squashed revision, with rows.
        old = alembic_runner(project, url)
        assert old("upgrade", POSTS).returncode == 0
        engine = sa.create_engine(url)
        with engine.begin() as connection:
            connection.execute(
                sa.text(INSERT_USER),
                USERS_ROWS,
            )
        new = alembic_runner(squashed_at_posts, url)
        upgraded = new("upgrade", "head")
        assert upgraded.returncode == 0, upgraded.stderr
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text("SELECT id, username, display_name FROM users ORDER BY id")
            ).all()
            version = connection.execute(
                sa.text("SELECT version_num FROM alembic_version")
            ).scalar_one()
        engine.dispose()
        assert [tuple(row) for row in rows] == [(1, "ada", "ada"), (2, "bob", "bob")]
        assert version == DISPLAY_NAME
        # At head already: nothing to do.
        again = new("upgrade", "head")
        assert again.returncode == 0
        assert "Running upgrade" not in again.stderr


@pytest.mark.parametrize("backend", configured_backends())
def test_a_database_behind_the_baseline_is_refused_unchanged(
    backend, project, squashed_at_posts, tmp_path
):
    with fresh_database(backend, tmp_path, "behind") as url:
        assert alembic_runner(project, url)("upgrade", USERS).returncode == 0
        engine = sa.create_engine(url)
        before = schema_text(engine, "-")
        new = alembic_runner(squashed_at_posts, url)
        for arguments in (("upgrade", "head"), ("current",), ("check",)):
            refused = new(*arguments)
            assert refused.returncode != 0
            assert failed_line(refused.stdout + refused.stderr) == (
                f"FAILED: the database is at {USERS}, which was squashed into the "
                f"baseline {POSTS}; upgrade it to {POSTS} with a release that still "
                "has the old revisions first"
            )
        assert schema_text(engine, "-") == before
        with engine.connect() as connection:
            version = connection.execute(
                sa.text("SELECT version_num FROM alembic_version")
            ).scalar_one()
        engine.dispose()
        assert version == USERS
        # The app's guard says the same, not "migrated by newer code".
        app = create_app(
            {
                "TESTING": True,
                "SQLALCHEMY_DATABASE_URI": url,
                "ALEMBIC_CONFIG": str(squashed_at_posts / "alembic.ini"),
            }
        )
        response = app.test_client().get("/healthz")
        with app.app_context():
            db.engine.dispose()
        assert response.status_code == 503
        assert response.json["status"] == "squashed"
        assert response.json["error"] == (
            f"The database is at revision {USERS}, which was squashed into the "
            f"baseline {POSTS}; upgrade it to {POSTS} with a release that still has "
            "the old revisions first."
        )


def test_a_command_naming_a_squashed_revision_is_told_where_history_starts(
    squashed_at_posts, tmp_path
):
    url = sa.URL.create("sqlite", database=str(tmp_path / "named.sqlite"))
    alembic = alembic_runner(squashed_at_posts, url)
    for arguments in (("upgrade", USERS), ("upgrade", f"{USERS}:head", "--sql")):
        refused = alembic(*arguments)
        assert refused.returncode != 0
        assert failed_line(refused.stdout + refused.stderr) == (
            f"FAILED: {USERS} was squashed into the baseline {POSTS}: the history "
            f"starts at {POSTS} now"
        )
    history = alembic("history")
    assert (
        f"<base> -> {POSTS}, Squashed baseline of 3 revisions"
        in history.stdout.splitlines()
    )


def test_squash_at_head_lists_the_data_steps_it_does_not_carry(
    project, tmp_path, capsys
):
    copy = committed_copy(tmp_path / "project", project)
    status, out, err = run_squash(copy, DISPLAY_NAME, capsys=capsys)
    assert status == 0, err
    assert set(revision_files(copy)) == {DISPLAY_NAME}
    assert (
        f"  {DISPLAY_NAME} Adding users display name: execute (line 47)"
        in out.splitlines()
    )
    for backend in configured_backends():
        assert_same_schema(project, copy, backend, tmp_path)


def test_a_second_squash_keeps_naming_the_first_ones_revisions(
    squashed_at_posts, tmp_path, capsys
):
    copy = committed_copy(tmp_path / "project", squashed_at_posts)
    commit_all(copy, "squashed at posts")
    status, _, err = run_squash(copy, DISPLAY_NAME, capsys=capsys)
    assert status == 0, err
    baseline = ScriptDirectory.from_config(
        Config(str(copy / "alembic.ini"))
    ).get_revision(DISPLAY_NAME)
    assert baseline.module.squashed == (FIRST, USERS, POSTS)


def test_dry_run_prints_the_baseline_and_writes_nothing(project, capsys):
    status, out, _ = run_squash(project, POSTS, "--dry-run", capsys=capsys)
    assert status == 0
    assert out.startswith("Would write alembic/versions/2026_11_25_010443-")
    assert "Would delete:\n  alembic/versions/2026_11_25_010429-" in out
    assert f'revision: str = "{POSTS}"' in out
    assert git(project, "status", "--porcelain") == ""


def test_python_bytecode_is_no_uncommitted_change(project, tmp_path, capsys):
    """Python writes ``__pycache__`` beside the revisions on every command, unless
    ``PYTHONDONTWRITEBYTECODE`` is set: it is never a change to commit, with or
    without the project's ``.gitignore``; a file that ``.gitignore`` names is none
    either."""
    copy = committed_copy(tmp_path / "bytecode", project)
    (copy / ".gitignore").write_text("*.orig\n")
    commit_all(copy, "a .gitignore without __pycache__")
    versions = copy / "alembic" / "versions"
    (versions / "__pycache__").mkdir(exist_ok=True)
    (versions / "__pycache__" / "first.cpython-311.pyc").write_bytes(b"\0")
    (versions / "stray.pyc").write_bytes(b"\0")
    (versions / "first.py.orig").write_text("ignored by .gitignore")

    status, out, err = run_squash(copy, POSTS, "--dry-run", capsys=capsys)

    assert (status, err) == (0, "")
    assert out.startswith("Would write alembic/versions/")
    (versions / "notes.txt").write_text("not ignored")
    status, _, err = run_squash(copy, POSTS, "--dry-run", capsys=capsys)
    assert status == 2
    assert "(alembic/versions/notes.txt): commit or stash them first" in err


# --- Refusals: one line, exit status 2, nothing written. ---


def test_refusals(project, tmp_path, capsys):
    def refused(copy: Path, *args: str) -> str:
        before = git(copy, "status", "--porcelain")
        status, out, err = run_squash(copy, *args, capsys=capsys)
        assert status == 2
        assert out == ""
        assert err.count("\n") == 1
        assert git(copy, "status", "--porcelain") == before
        return err.removeprefix("migration-squash: error: ").strip()

    assert refused(project, "0123abcd") == (
        "unknown revision: '0123abcd' is not in the history"
    )
    assert refused(project, FIRST) == (
        f"{FIRST} is the first revision already: nothing to squash"
    )
    copy = committed_copy(tmp_path / "branches", project)
    versions = copy / "alembic" / "versions"
    (versions / "2026_11_26_000000-b1a2c3d4e5f6_side.py").write_text(
        EMPTY_REVISION.format(revision="b1a2c3d4e5f6", down_revision=repr(USERS))
    )
    assert refused(copy, POSTS).startswith(
        "uncommitted changes under alembic/versions/ (alembic/versions/2026_11_26_"
    )
    commit_all(copy, "a branch")
    assert refused(copy, POSTS) == (
        f"{POSTS} is not an ancestor of the head b1a2c3d4e5f6: squash at a revision "
        "every head builds on"
    )
    (versions / "2026_11_27_000000-a1b2c3d4e5f6_merge.py").write_text(
        EMPTY_REVISION.format(
            revision="a1b2c3d4e5f6", down_revision=repr((DISPLAY_NAME, "b1a2c3d4e5f6"))
        )
    )
    commit_all(copy, "a merge")
    assert refused(copy, "a1b2c3d4e5f6") == (
        "a1b2c3d4e5f6 merges branches: squash at a revision after the merge, or "
        "with no merge before it"
    )
    assert refused(copy, DISPLAY_NAME) == (
        f"the history branches at {USERS}, before {DISPLAY_NAME}: squash at a "
        "revision after the branches are merged"
    )
    assert refused(project, "base") == (
        "base is the empty database, not a revision: nothing to squash"
    )
    changed = revision_files(project)[POSTS]
    original = changed.read_text()
    changed.write_text(original + "\n# edited\n")
    try:
        assert refused(project, POSTS) == (
            "uncommitted changes under alembic/versions/ "
            f"(alembic/versions/{changed.name}): commit or stash them first"
        )
    finally:
        changed.write_text(original)
    unreachable = refused(
        project, POSTS, "--postgresql", "postgresql://root:s3cret@127.0.0.1:1/x"
    )
    assert unreachable.startswith(
        "cannot create a database on postgresql+psycopg://root:***@127.0.0.1:1/x: "
    )
    outside = tmp_path / "outside"
    copy_project(outside)
    assert refused_outside_git(outside, capsys) == (
        f"{outside / 'alembic' / 'versions'} is not in a git checkout: commit the "
        "revisions first, so that the squash can be reviewed and undone"
    )


def refused_outside_git(project: Path, capsys) -> str:
    """The refusal for a project outside git (no ``git status`` to compare)."""
    listing = sorted(os.listdir(project / "alembic" / "versions"))
    status, _, err = run_squash(project, POSTS, capsys=capsys)
    assert status == 2
    assert sorted(os.listdir(project / "alembic" / "versions")) == listing
    return err.removeprefix("migration-squash: error: ").strip()


def test_without_postgresql_a_history_with_enum_types_is_refused(
    project, tmp_path, capsys, monkeypatch
):
    copy = committed_copy(tmp_path / "enums", project)
    add_revision(
        copy,
        1,
        DISPLAY_NAME,
        [
            'op.create_table("tags", sa.Column("id", sa.Integer(), primary_key=True),',
            '    sa.Column("state", sa.Enum("a", "b", name="tag_state")),',
            '    sa.Column("at", sa.DateTime(timezone=True), comment="when"))',
        ],
    )
    commit_all(copy, "tags")
    monkeypatch.delenv("TEST_POSTGRESQL_URL", raising=False)
    status, _, err = run_squash(copy, "c0de00000001", capsys=capsys)
    assert status == 2
    assert err == (
        "migration-squash: error: the revisions use what SQLite does not keep: Enum "
        "(c0de00000001), timezone=True (c0de00000001), comment (c0de00000001); give "
        "--postgresql SERVER_URL (or set TEST_POSTGRESQL_URL) so that the baseline "
        "keeps it\n"
    )


EMPTY_REVISION = '''"""A revision of the test

Revision ID: {revision}
Create Date: 2026-11-26 00:00:00+00:00
"""

revision = "{revision}"
down_revision = {down_revision}
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing."""


def downgrade() -> None:
    """Nothing."""
'''


# --- A generated 50-revision history: enum types, CHECKs, expression indexes. ---

REVISION = '''"""Step {number}

Revision ID: {revision}
Revises: {down_revision}
Create Date: 2026-12-01 00:{minute:02d}:{second:02d}+00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "{revision}"
down_revision = "{down_revision}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Step {number}."""
{body}


def downgrade() -> None:
    """Not used by these tests."""
'''


def step_id(number: int) -> str:
    """The generated revision id of step ``number``."""
    return f"c0de{number:08d}"


def add_revision(project: Path, number: int, parent: str, lines: list[str]) -> str:
    """Write generated step ``number`` on top of ``parent``; its id."""
    revision = step_id(number)
    body = "\n".join(f"    {line}" for line in lines)
    (
        project / "alembic" / "versions" / f"2026_12_01_{number:06d}-{revision}.py"
    ).write_text(
        REVISION.format(
            number=number,
            revision=revision,
            down_revision=parent,
            minute=number // 60,
            second=number % 60,
            body=body,
        )
    )
    return revision


def create_table(number: int, parent_table: str) -> list[str]:
    """A table with a shared enum type, one of its own, a CHECK, defaults, a
    comment, a foreign key and an index on an expression."""
    name = f"t{number}"
    return [
        "op.create_table(",
        f'    "{name}",',
        '    sa.Column("id", sa.Integer(), nullable=False),',
        '    sa.Column("name", sa.String(40), nullable=False, '
        f'comment="name {number}"),',
        '    sa.Column("level", sa.Enum("low", "high", name="level"), '
        'server_default="low", nullable=False),',
        f'    sa.Column("kind", sa.Enum("a", "b", name="kind_{number}")),',
        '    sa.Column("price", sa.Numeric(10, 2), server_default="0", '
        "nullable=False),",
        '    sa.Column("created", sa.DateTime(timezone=True), '
        "server_default=sa.func.now(), nullable=False),",
        '    sa.Column("flag", sa.Boolean(), server_default=sa.true(), '
        "nullable=False),",
        '    sa.Column("parent_id", sa.Integer(), nullable=True),',
        f'    sa.CheckConstraint("price >= 0", name="ck_{name}_price"),',
        f'    sa.ForeignKeyConstraint(["parent_id"], ["{parent_table}.id"], '
        f'name="fk_{name}_parent_id", ondelete="SET NULL"),',
        f'    sa.PrimaryKeyConstraint("id", name="pk_{name}"),',
        f'    comment="table {number}",',
        ")",
        f'op.create_index("ix_{name}_parent_id", "{name}", ["parent_id"])',
        'if op.get_context().dialect.name not in ("mysql", "mariadb"):',
        f'    op.create_index("ix_{name}_lower_name", "{name}", '
        '[sa.text("lower(name)")])',
    ]


def change_table(number: int, table: str) -> list[str]:
    """One change to an existing table, of a kind that depends on ``number``."""
    kind = number % 5
    batch = f'with op.batch_alter_table("{table}") as batch_op:'
    if kind == 1:
        return [
            batch,
            f'    batch_op.add_column(sa.Column("note_{number}", sa.String(50), '
            'server_default="x", nullable=False))',
        ]
    if kind == 2:
        return [
            batch,
            f'    batch_op.create_check_constraint("ck_{table}_{number}", '
            f'"length(name) > {number % 3}")',
        ]
    if kind == 3:
        return [f'op.create_index("ix_{table}_{number}", "{table}", ["name", "id"])']
    return [  # kind 4: widen a column
        batch,
        f'    batch_op.alter_column("name", existing_type=sa.String(40), '
        f"type_=sa.String({40 + number}), existing_nullable=False, "
        f'existing_comment="name {table[1:]}")',
    ]


@pytest.fixture(scope="module")
def long_history(project, tmp_path_factory) -> Path:
    """The project with 50 generated revisions on top, committed."""
    copy = committed_copy(tmp_path_factory.mktemp("long") / "project", project)
    parent, tables = DISPLAY_NAME, []
    for number in range(1, STEPS + 1):
        if number % 5 == 0 or not tables:
            lines = create_table(number, tables[-1] if tables else "users")
            tables.append(f"t{number}")
        else:
            lines = change_table(number, tables[-1])
        parent = add_revision(copy, number, parent, lines)
    commit_all(copy, "50 steps")
    return copy


@pytest.fixture(scope="module")
def long_history_squashed(long_history, tmp_path_factory) -> Path:
    """The long history squashed at step 45: five generated steps stay. Its enum
    types and comments need PostgreSQL's (SQLite keeps neither)."""
    if "postgresql" not in configured_backends():
        pytest.skip("the history has enum types: set TEST_POSTGRESQL_URL")
    copy = committed_copy(tmp_path_factory.mktemp("long-squashed") / "p", long_history)
    with importing_from(copy):
        assert squash.main(["-c", str(copy / "alembic.ini"), step_id(45)]) == 0
    return copy


def test_a_long_history_squashed_has_the_baseline_and_what_follows(
    long_history_squashed,
):
    assert sorted(revision_files(long_history_squashed)) == [
        step_id(number) for number in range(45, STEPS + 1)
    ]
    text = revision_files(long_history_squashed)[step_id(45)].read_text()
    assert 'sa.Enum("low", "high", name="level")' in text
    # The name the old history gave it (the naming convention applied to
    # "ck_t40_42"), kept from being applied twice.
    assert (
        'sa.CheckConstraint("length(name) > 0", name=op.f("ck_t40_ck_t40_42"))' in text
    )
    assert 'comment="table 40"' in text


@pytest.mark.parametrize("backend", configured_backends())
def test_a_long_history_squashed_builds_the_same_schema(
    backend, long_history, long_history_squashed, tmp_path
):
    assert_same_schema(long_history, long_history_squashed, backend, tmp_path)


def test_the_stairway_and_data_tests_pass_on_the_squashed_history(
    squashed_at_posts, tmp_path
):
    copy = committed_copy(tmp_path / "project", squashed_at_posts)
    shutil.copytree(Path(__file__).parent, copy / "tests")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-n",
            "0",
            "tests/test_revisions.py",
            "tests/test_data.py",
        ],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert " passed" in result.stdout


def test_a_baseline_that_would_build_another_schema_is_refused(
    project, capsys, monkeypatch
):
    real = baseline.baseline_ops

    def losing_a_column(metadata):
        upgrades, downgrades, imports = real(metadata)
        lines = upgrades.splitlines(keepends=True)
        kept = [line for line in lines if "sa.Column('title'" not in line]
        assert len(kept) == len(lines) - 1
        return "".join(kept), downgrades, imports

    monkeypatch.setattr(baseline, "baseline_ops", losing_a_column)
    status, out, err = run_squash(project, POSTS, capsys=capsys)
    assert status == 2
    assert out == ""
    assert err.startswith(
        "migration-squash: error: the baseline would not build the schema the old "
        "revisions build on SQLite (- column title VARCHAR(200) NOT NULL (table "
        "posts)); nothing "
        "written"
    )
    assert git(project, "status", "--porcelain") == ""


# --- What SQLite alone would lose: cycles, partial indexes, PostgreSQL types. ---

EDGES = [
    "from sqlalchemy.dialects.postgresql import JSONB",
    'op.create_table("ca", sa.Column("id", sa.Integer(), primary_key=True),',
    '    sa.Column("b_id", sa.Integer(), nullable=True))',
    'op.create_table("cb", sa.Column("id", sa.Integer(), primary_key=True),',
    '    sa.Column("a_id", sa.Integer(), sa.ForeignKey("ca.id", name="fk_cb_a")))',
    'with op.batch_alter_table("ca") as batch_op:',
    '    batch_op.create_foreign_key("fk_ca_b", "cb", ["b_id"], ["id"])',
    'op.create_table("docs", sa.Column("id", sa.Integer(), primary_key=True),',
    '    sa.Column("body", sa.JSON().with_variant(JSONB(), "postgresql")),',
    '    sa.Column("weight", sa.Double()),',
    '    sa.Column("slug", sa.String(40), nullable=False),',
    '    sa.Column("deleted", sa.Boolean(), server_default=sa.false(), '
    "nullable=False))",
    'op.create_index("ix_docs_live_slug", "docs", ["slug"], unique=True,',
    '    sqlite_where=sa.text("deleted = 0"),',
    '    postgresql_where=sa.text("deleted = false"))',
]


@pytest.fixture(scope="module")
def edges(project, tmp_path_factory) -> tuple[Path, Path]:
    """The project with the edge cases on top, and a copy of it squashed there."""
    if "postgresql" not in configured_backends():
        pytest.skip("the history has a JSONB column: set TEST_POSTGRESQL_URL")
    old = committed_copy(tmp_path_factory.mktemp("edges") / "project", project)
    add_revision(old, 1, DISPLAY_NAME, EDGES)
    commit_all(old, "edges")
    new = committed_copy(tmp_path_factory.mktemp("edges-squashed") / "p", old)
    with importing_from(new):
        assert squash.main(["-c", str(new / "alembic.ini"), step_id(1)]) == 0
    return old, new


def test_cycles_partial_indexes_and_postgresql_types_are_kept(edges):
    text = revision_files(edges[1])[step_id(1)].read_text()
    # The tables point at each other: their keys come once both exist.
    assert (
        'batch_op.create_foreign_key(batch_op.f("fk_ca_b"), "cb", ["b_id"], ["id"])'
        in text
    )
    assert 'postgresql_where=sa.text("(deleted = false)")' in text
    jsonb = 'postgresql.JSONB(astext_type=sa.Text()), "postgresql"'
    assert f"sa.JSON().with_variant(\n                {jsonb}\n            )" in text
    assert 'sqlite_where=sa.text("deleted = 0")' in text
    assert "from sqlalchemy.dialects import postgresql" in text


@pytest.mark.parametrize("backend", configured_backends())
def test_cycles_partial_indexes_and_postgresql_types_build_the_same_schema(
    backend, edges, tmp_path
):
    assert_same_schema(*edges, backend, tmp_path)
    with fresh_database(backend, tmp_path, "down") as url:
        alembic = alembic_runner(edges[1], url)
        assert alembic("upgrade", "head").returncode == 0
        downgraded = alembic("downgrade", "base")
        assert downgraded.returncode == 0, downgraded.stdout + downgraded.stderr


@pytest.mark.parametrize("has_check", [True, False])
def test_the_baseline_keeps_an_enum_columns_check_where_sqlite_had_one(has_check):
    """An Enum column's values are a CHECK on SQLite when the revision that made it
    wrote ``create_constraint=True`` (every generated one does), and none before:
    the baseline writes the type the way that builds the same SQLite schema."""
    check = ", CONSTRAINT ck_t_kind CHECK (kind IN ('a', 'b'))" if has_check else ""
    engine = sa.create_engine("sqlite://")
    with engine.begin() as connection:
        connection.exec_driver_sql(
            f"CREATE TABLE t (id INTEGER PRIMARY KEY, kind VARCHAR(1){check})"
        )
    sqlite = sa.MetaData()
    sqlite.reflect(engine)
    engine.dispose()
    postgresql = sa.MetaData()
    sa.Table(
        "t",
        postgresql,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", postgresql_types.ENUM("a", "b", name="kind")),
    )
    upgrade, _, _ = baseline.baseline_ops(baseline.portable_schema(sqlite, postgresql))
    written = "sa.Enum('a', 'b', name='kind', create_constraint=True)"
    assert (written in upgrade) is has_check, upgrade
    assert "sa.CheckConstraint" not in upgrade
