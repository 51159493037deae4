"""Deploy phases (docs/deploys.md): each revision's phase found
from its operations and written by autogenerate; ``alembic -x phase=expand`` on
each history; the serving table every migration keeps; the guard's decision
from it. On the kit's fixture project, on every configured database."""

import pytest
import sqlalchemy as sa
from alembic.operations import ops
from alembic.script import ScriptDirectory
from sqlalchemy.dialects import mysql

from conftest import (
    alembic_runner,
    copy_project,
    failed_line,
    fixture_script_directory,
)
from flask_alembic_kit import phases
from flask_alembic_kit.code_revisions import CodeRevisions
from flask_alembic_kit.enums.values import AlterEnumValuesOp
from flask_alembic_kit.serving import read_serving_heads, serving_heads
from flask_alembic_kit.state import (
    AHEAD,
    BEHIND,
    CONTRACT_PENDING,
    OK,
    UNKNOWN,
    compare,
)

HEAD = fixture_script_directory().get_current_head()


def column(name: str, type_=None, **kw) -> sa.Column:
    """A column for an op."""
    return sa.Column(name, type_ if type_ is not None else sa.String(40), **kw)


@pytest.mark.parametrize(
    ("operation", "phase", "reason"),
    [
        (ops.AddColumnOp("users", column("bio", nullable=True)), "expand", None),
        (
            ops.AddColumnOp("users", column("bio", nullable=False, server_default="")),
            "expand",
            None,
        ),
        (ops.CreateTableOp("tags", [column("name")]), "expand", None),
        (ops.CreateIndexOp("ix_users_bio", "users", ["bio"]), "expand", None),
        (ops.DropConstraintOp("uq_users_bio", "users"), "expand", None),
        (ops.DropTableOp("tags"), "contract", "drops table tags"),
        (ops.DropColumnOp("users", "bio"), "contract", "drops column users.bio"),
        # A rename: neither release finds the other's name.
        (ops.RenameTableOp("tags", "labels"), "mixed", "renames table tags"),
        (
            ops.AlterColumnOp("users", "bio", modify_name="about"),
            "mixed",
            "renames column users.bio to about",
        ),
        (
            ops.AlterColumnOp("users", "bio", modify_nullable=False),
            "contract",
            "makes users.bio NOT NULL",
        ),
        (ops.AlterColumnOp("users", "bio", modify_nullable=True), "expand", None),
        (
            ops.AlterColumnOp(
                "users", "bio", existing_type=sa.String(80), modify_type=sa.String(40)
            ),
            "contract",
            "changes the type of users.bio to String(40)",
        ),
        (
            ops.AlterColumnOp(
                "users", "bio", existing_type=sa.String(40), modify_type=sa.Text()
            ),
            "expand",
            None,
        ),
        (
            ops.AlterColumnOp(
                "users", "n", existing_type=sa.Integer(), modify_type=sa.BigInteger()
            ),
            "expand",
            None,
        ),
        (
            ops.AlterColumnOp(
                "users", "n", existing_type=sa.BigInteger(), modify_type=sa.Integer()
            ),
            "contract",
            "changes the type of users.n",
        ),
        (
            ops.AlterColumnOp(
                "users", "n", existing_nullable=False, modify_server_default=None
            ),
            "contract",
            "drops the server default of users.n",
        ),
        (
            ops.AlterColumnOp(
                "users", "n", existing_nullable=True, modify_server_default=None
            ),
            "expand",
            None,
        ),
        # Types: only what keeps every value is a widening.
        (
            ops.AlterColumnOp(
                "t", "n", existing_type=mysql.LONGTEXT(), modify_type=sa.Text()
            ),
            "contract",
            "changes the type of t.n",
        ),
        (
            ops.AlterColumnOp(
                "t", "n", existing_type=sa.Numeric(10, 2), modify_type=sa.Numeric(10, 4)
            ),
            "contract",
            "changes the type of t.n",
        ),
        (
            ops.AlterColumnOp(
                "t", "n", existing_type=sa.Numeric(10, 2), modify_type=sa.Numeric(12, 2)
            ),
            "expand",
            None,
        ),
        (
            ops.AlterColumnOp(
                "t",
                "n",
                existing_type=mysql.INTEGER(unsigned=True),
                modify_type=sa.Integer(),
            ),
            "contract",
            "changes the type of t.n",
        ),
        (
            ops.AlterColumnOp(
                "t", "n", existing_type=sa.SMALLINT(), modify_type=mysql.TINYINT()
            ),
            "contract",
            "changes the type of t.n",
        ),
        (
            ops.AlterColumnOp(
                "t", "n", existing_type=sa.VARBINARY(100), modify_type=sa.VARBINARY(10)
            ),
            "contract",
            "changes the type of t.n",
        ),
        (
            ops.AlterColumnOp(
                "t", "n", existing_type=sa.DateTime(), modify_type=sa.DateTime(True)
            ),
            "contract",
            "changes the type of t.n",
        ),
        # Constraints on what the running release writes.
        (
            ops.CreateUniqueConstraintOp("uq_users_email", "users", ["email"]),
            "contract",
            "adds a unique constraint on users (email)",
        ),
        (
            ops.CreateIndexOp("ix_users_email", "users", ["email"], unique=True),
            "contract",
            "adds a unique index on users (email)",
        ),
        (
            ops.CreateCheckConstraintOp("ck_users_age", "users", "age >= 0"),
            "contract",
            "adds CHECK (age >= 0) on users",
        ),
        (
            AlterEnumValuesOp(
                "posts", "state", ["draft", "live"], existing=["draft"], name="state"
            ),
            "expand",
            None,
        ),
        (
            AlterEnumValuesOp(
                "posts", "state", ["draft"], existing=["draft", "live"], name="state"
            ),
            "contract",
            "drops Enum value 'live' of posts.state",
        ),
        (
            AlterEnumValuesOp(
                "posts",
                "state",
                ["pending"],
                existing=["draft"],
                name="state",
                renamed={"draft": "pending"},
            ),
            "mixed",
            "renames Enum value 'draft' of posts.state to 'pending'",
        ),
        (
            ops.AddColumnOp("users", column("code", nullable=False)),
            "mixed",
            "adds users.code NOT NULL without a server default",
        ),
    ],
)
def test_each_operation_has_the_phase_the_running_release_needs(
    operation, phase, reason
):
    found = phases.classify([ops.ModifyTableOps("users", [operation])])

    assert found.phase == phase
    if reason:
        assert any(reason in each for each in found.breaks), found.breaks
    else:
        assert found.breaks == []


def test_constraints_on_what_the_revision_creates_restrict_nothing():
    found = phases.classify(
        [
            ops.AddColumnOp("users", column("code", nullable=True)),
            ops.CreateUniqueConstraintOp("uq_users_code", "users", ["code"]),
            ops.CreateCheckConstraintOp("ck_users_code", "users", "length(code) > 2"),
            ops.CreateTableOp("tags", [column("name")]),
            ops.CreateIndexOp("ix_tags_name", "tags", ["name"], unique=True),
        ]
    )

    assert (found.phase, found.breaks) == ("expand", [])


def test_a_revision_that_adds_and_drops_is_mixed():
    found = phases.classify(
        [
            ops.AddColumnOp("users", column("nickname", nullable=True)),
            ops.DropColumnOp("users", "display_name"),
        ]
    )

    assert found.phase == "mixed"
    assert found.adds == ["adds column users.nickname"]


@pytest.fixture
def project(tmp_path, fresh_database_url):
    """A copy of the fixture project, migrated to head, and its ``alembic``."""
    copy_project(tmp_path)
    alembic = alembic_runner(tmp_path, fresh_database_url)
    assert alembic("upgrade", "head").returncode == 0
    return tmp_path, alembic


EMAIL_LINE = (
    "    email: orm.Mapped[str] = orm.mapped_column(sa.String(120), unique=True)\n"
)
MODEL_LINE = "    display_name: orm.Mapped[str] = orm.mapped_column(sa.String(80))\n"
NICKNAME = "    nickname: orm.Mapped[str | None] = orm.mapped_column(sa.String(40))\n"


def generated(project, models: str, message: str) -> str:
    """The revision autogenerate writes once ``User``'s columns after ``email`` are
    ``models`` (the fixture's: ``display_name``), and what it said."""
    path, alembic = project
    file = path / "app" / "models.py"
    text = file.read_text()
    start = text.index(EMAIL_LINE) + len(EMAIL_LINE)
    end = text.index("\n    posts: orm.Mapped")
    file.write_text(text[:start] + models + text[end:])
    before = set((path / "alembic" / "versions").glob("*.py"))
    result = alembic("revision", "--autogenerate", "-m", message)
    assert result.returncode == 0, result.stderr
    [new] = set((path / "alembic" / "versions").glob("*.py")) - before
    return new.read_text(), result.stderr


def test_autogenerate_marks_an_added_column_expand(project):
    text, _ = generated(project, MODEL_LINE + NICKNAME, "nicknames")

    assert '\nphase: str = "expand"\n' in text
    assert "# Deploy phase: expand. The running release keeps working" in text


def test_autogenerate_marks_a_dropped_column_contract_with_its_reason(project):
    generated(project, MODEL_LINE + NICKNAME, "nicknames")
    assert project[1]("upgrade", "head").returncode == 0

    text, _ = generated(project, MODEL_LINE, "no nicknames")

    assert '\nphase: str = "contract"\n' in text
    assert "\n# - drops column users.nickname\n" in text


def test_a_dropped_not_null_column_without_a_default_is_mixed(project):
    text, _ = generated(project, "", "no display names")

    assert '\nphase: str = "mixed"\n' in text
    assert "\n# - drops column users.display_name\n" in text
    assert "# - users.display_name gone: it is NOT NULL without a server default" in (
        text
    )


def test_autogenerate_marks_a_not_null_column_mixed_and_says_to_split_it(project):
    code = "    code: orm.Mapped[str] = orm.mapped_column(sa.String(10))\n"

    text, said = generated(project, MODEL_LINE + code, "codes")

    assert '\nphase: str = "mixed"\n' in text
    assert "# - adds column users.code\n" in text
    assert "split it into an expand revision and a contract one" in said


def test_a_revision_written_by_hand_is_mixed_until_its_author_says(project):
    path, alembic = project
    assert alembic("revision", "-m", "by hand").returncode == 0
    [new] = (path / "alembic" / "versions").glob("*_by_hand.py")

    text = new.read_text()

    assert '\nphase: str = "mixed"\n' in text
    assert '# Deploy phase: set "expand" when the running release keeps' in text


def test_a_merge_is_a_merge(project):
    path, alembic = project
    for branch in ("one", "two"):
        made = alembic("revision", "-m", branch, "--head", HEAD, "--splice")
        assert made.returncode == 0, made.stderr

    assert alembic("merge", "heads", "-m", "join").returncode == 0

    [merge] = (path / "alembic" / "versions").glob("*_join.py")
    assert '\nphase: str = "merge"\n' in merge.read_text()


REVISION = '''"""{message}"""

import sqlalchemy as sa
from alembic import op

revision = "{revision}"
down_revision = "{down}"
branch_labels = None
depends_on = None
phase = "{phase}"


def upgrade() -> None:
    """{message}."""
    {upgrade}


def downgrade() -> None:
    """Undo: {message}."""
    {downgrade}
'''


def add_revision(folder, number, revision, down, phase, upgrade, downgrade):
    """A revision file written by hand into ``folder``."""
    text = REVISION.format(
        message=f"step {number}",
        revision=revision,
        down=down,
        phase=phase,
        upgrade=upgrade,
        downgrade=downgrade,
    )
    (folder / f"2026_12_07_00000{number}-{revision}_step_{number}.py").write_text(text)


def expand_contract_expand(path) -> None:
    """After the fixture's head: an expand, a contract, an expand revision."""
    versions = path / "alembic" / "versions"
    add = 'op.add_column("users", sa.Column("e1", sa.String(20)))'
    drop = 'op.drop_column("users", "e1")'
    create = 'op.create_table("e2", sa.Column("id", sa.Integer, primary_key=True))'
    add_revision(versions, 1, "e1e1e1e1e1e1", HEAD, "expand", add, drop)
    add_revision(versions, 2, "c1c1c1c1c1c1", "e1e1e1e1e1e1", "contract", drop, add)
    add_revision(
        versions,
        3,
        "e2e2e2e2e2e2",
        "c1c1c1c1c1c1",
        "expand",
        create,
        'op.drop_table("e2")',
    )


def serving(url, heads) -> set[str]:
    """What the database's serving table lists for a database at ``heads``."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return read_serving_heads(connection, "alembic_version", heads)
    finally:
        engine.dispose()


def test_the_expand_phase_stops_before_the_first_contract_revision(
    project, fresh_database_url
):
    path, alembic = project
    expand_contract_expand(path)

    expand = alembic("-x", "phase=expand", "upgrade", "head")

    assert expand.returncode == 0, expand.stderr
    [said] = [line for line in expand.stderr.splitlines() if "waiting for" in line]
    assert said.endswith(
        "Expand phase: waiting for the contract phase: c1c1c1c1c1c1 "
        "(contract), e2e2e2e2e2e2 (expand). Apply them with `alembic upgrade head` "
        "once every instance runs this release."
    )
    assert "Running upgrade bb4b390c7d31 -> e1e1e1e1e1e1" in expand.stderr
    # e2 is expand, but the release that has it cannot serve before c1 is applied.
    assert (
        "e2e2e2e2e2e2: expand, held back behind a revision that is not: this "
        "release needs it and cannot serve until `alembic upgrade head`"
    ) in expand.stderr
    assert "c1c1c1c1c1c1" not in alembic("current").stdout
    # The release before (head bb4b) may serve on it; the database records so.
    assert serving(fresh_database_url, ("e1e1e1e1e1e1",)) == {"e1e1e1e1e1e1", HEAD}

    everything = alembic("upgrade", "head")

    assert everything.returncode == 0, everything.stderr
    assert "e2e2e2e2e2e2 (head)" in alembic("current").stdout
    assert serving(fresh_database_url, ("e2e2e2e2e2e2",)) == {
        "e2e2e2e2e2e2",
        "c1c1c1c1c1c1",
    }
    again = alembic("-x", "phase=expand", "upgrade", "head")
    assert "Expand phase: nothing waits for the contract phase." in again.stderr


def test_the_expand_phase_renders_the_same_revisions_under_sql(project):
    path, alembic = project
    expand_contract_expand(path)

    script = alembic("-x", "phase=expand", "upgrade", f"{HEAD}:head", "--sql")

    assert script.returncode == 0, script.stderr
    assert "ADD COLUMN e1" in script.stdout
    assert "DROP COLUMN" not in script.stdout and "CREATE TABLE e2" not in script.stdout
    assert "INSERT INTO alembic_version_serving" in script.stdout
    assert "waiting for the contract phase: c1c1c1c1c1c1 (contract)" in script.stderr


def test_a_range_held_back_whole_is_an_empty_script_not_an_error(project):
    path, alembic = project
    expand_contract_expand(path)

    script = alembic("-x", "phase=expand", "upgrade", "e1e1e1e1e1e1:head", "--sql")

    assert script.returncode == 0, script.stdout + script.stderr
    assert "c1c1c1c1c1c1" not in script.stdout
    assert "waiting for the contract phase: c1c1c1c1c1c1 (contract)" in script.stderr


def test_each_history_stops_at_its_own_contract_revision(project):
    path, alembic = project
    versions = path / "alembic" / "versions"
    audit_versions = path / "alembic" / "binds" / "audit"
    audit_head = next(audit_versions.glob("*.py")).name.split("-")[1].split("_")[0]
    add = 'op.add_column("users", sa.Column("e1", sa.String(20)))'
    add_revision(versions, 1, "e1e1e1e1e1e1", HEAD, "expand", add, "pass")
    drop = 'op.drop_column("audit_events", "action")'
    add_revision(
        audit_versions, 1, "ac1ac1ac1ac1", audit_head, "contract", drop, "pass"
    )

    expand = alembic("-x", "phase=expand", "upgrade", "head")

    assert expand.returncode == 0, expand.stderr
    said = [line for line in expand.stderr.splitlines() if "contract phase" in line]
    assert [line.split("] ", 1)[1] for line in said] == [
        "Expand phase: nothing waits for the contract phase.",
        "database audit: Expand phase: waiting for the contract phase: "
        "ac1ac1ac1ac1 (contract). Apply them with `alembic upgrade head` once every "
        "instance runs this release.",
    ]
    current = alembic("current").stdout
    assert "e1e1e1e1e1e1 (head)" in current and "ac1ac1ac1ac1" not in current


@pytest.mark.parametrize(
    ("arguments", "line"),
    [
        (
            ("-x", "phase=bogus", "upgrade", "head"),
            "FAILED: -x phase=bogus: use -x phase=expand",
        ),
        (
            ("-x", "phase=expand", "downgrade", "-1"),
            "FAILED: -x phase=expand goes with upgrade, not downgrade",
        ),
    ],
)
def test_a_phase_the_command_cannot_take_is_one_line(project, arguments, line):
    path, alembic = project
    before = alembic("current").stdout

    result = alembic(*arguments)

    assert result.returncode == 255
    assert failed_line(result.stdout).startswith(line)
    assert alembic("current").stdout == before


def history(tmp_path, revisions: dict[str, tuple[tuple[str, ...], str]]):
    """A script directory of revisions {id: (parents, phase)}, with no operations."""
    for number, (revision, (parents, phase)) in enumerate(revisions.items()):
        down = parents[0] if len(parents) == 1 else parents or None
        (tmp_path / f"{number:02d}_{revision}.py").write_text(
            f"revision = {revision!r}\ndown_revision = {down!r}\n"
            f"branch_labels = None\ndepends_on = None\nphase = {phase!r}\n"
        )
    return ScriptDirectory(str(tmp_path), version_locations=[str(tmp_path)])


@pytest.mark.parametrize(
    ("revisions", "heads", "expected"),
    [
        # Linear: down to the newest revision that is not expand.
        (
            {"a": ((), "contract"), "b": (("a",), "expand"), "c": (("b",), "expand")},
            ("c",),
            ["a", "b", "c"],
        ),
        (
            {"a": ((), "expand"), "b": (("a",), "contract"), "c": (("b",), "expand")},
            ("c",),
            ["b", "c"],
        ),
        # A merge joins a contract branch: the other branch's code cannot serve.
        (
            {
                "a": ((), "contract"),
                "b": (("a",), "contract"),
                "c": (("a",), "expand"),
                "m": (("b", "c"), "merge"),
            },
            ("m",),
            ["b", "m"],
        ),
        # Two expand branches merged: either branch's code finds what it maps.
        (
            {
                "a": ((), "contract"),
                "b": (("a",), "expand"),
                "c": (("a",), "expand"),
                "m": (("b", "c"), "merge"),
            },
            ("m",),
            ["a", "b", "c", "m"],
        ),
        # Two heads, one a contract: only code at or after it.
        (
            {"a": ((), "contract"), "b": (("a",), "contract"), "c": (("a",), "expand")},
            ("b", "c"),
            ["b"],
        ),
    ],
)
def test_the_serving_heads_are_those_every_unknown_revision_spares(
    tmp_path, revisions, heads, expected
):
    assert serving_heads(history(tmp_path, revisions), heads) == expected


def code(*chain: tuple[str, str]) -> CodeRevisions:
    """A linear history of (revision, phase), oldest first."""
    revisions = [revision for revision, _ in chain]
    return CodeRevisions(
        heads=(revisions[-1],),
        known=frozenset(revisions),
        squashed={},
        phases=dict(chain),
        parents={
            revision: (revisions[n - 1],) if n else ()
            for n, revision in enumerate(revisions)
        },
    )


@pytest.mark.parametrize(
    ("database", "chain", "serving", "status"),
    [
        (("b",), [("a", "expand"), ("b", "expand")], set(), OK),
        # The new release before its contract step.
        (("a",), [("a", "expand"), ("b", "contract")], set(), CONTRACT_PENDING),
        (
            ("a",),
            [("a", "expand"), ("b", "contract"), ("c", "contract")],
            set(),
            CONTRACT_PENDING,
        ),
        # A merge changes nothing: it is never what the code waits for.
        (
            ("a",),
            [("a", "expand"), ("b", "contract"), ("m", "merge")],
            set(),
            CONTRACT_PENDING,
        ),
        # Behind by an expand revision: the code needs what it adds.
        (("a",), [("a", "expand"), ("b", "expand")], set(), BEHIND),
        (("a",), [("a", "expand"), ("b", "contract"), ("c", "expand")], set(), BEHIND),
        (("a",), [("a", "expand"), ("b", "mixed")], set(), BEHIND),
        # Ahead: what the newer release's migration recorded decides.
        (("z",), [("a", "expand")], {"a", "z"}, AHEAD),
        (("z",), [("a", "expand")], {"z"}, UNKNOWN),
        (("z",), [("a", "expand")], set(), UNKNOWN),
    ],
)
def test_the_guard_serves_where_the_deploy_leaves_what_the_code_needs(
    database, chain, serving, status
):
    state = compare(database, code(*chain), frozenset(serving))

    assert state.status == status
    assert state.serves == (status in (OK, AHEAD, CONTRACT_PENDING))


def test_a_long_history_of_expand_revisions_is_recorded_whole(
    project, fresh_database_url
):
    path, alembic = project
    versions, down = path / "alembic" / "versions", HEAD
    for number in range(1, 211):  # more rows than one INSERT statement holds
        revision = f"e{number:011d}"
        add_revision(versions, number, revision, down, "expand", "pass", "pass")
        down = revision

    assert alembic("upgrade", "head").returncode == 0

    expected = {HEAD} | {f"e{number:011d}" for number in range(1, 211)}
    assert serving(fresh_database_url, (down,)) == expected
