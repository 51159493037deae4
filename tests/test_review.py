"""``migration-review``: the safety linter on a fixture revision per rule, and the
report on temporary git repositories (clean, risky, two heads, stale parent, bad
base), its exit codes and formats."""

import ast
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import ROOT, configured_backends, copy_project
from flask_alembic_kit import phases
from in_process import importing_from
from tools import lint, phase_ops, review, review_revision, squash
from tools.gitrepo import git
from tools.revision_source import RevisionSource
from tools.trace_findings import DATABASE_NAMES

FIXTURE_REVISION = '''\
"""Fixture revision

Revision ID: {revision}
"""

import sqlalchemy as sa
from alembic import op

revision = "{revision}"
down_revision = "{down_revision}"
branch_labels = None
depends_on = None


def upgrade() -> None:
{upgrade}


def downgrade() -> None:
{downgrade}
{phase}'''


def phase_lines(phase: str | None, reason: str = "") -> str:
    """The deploy phase a fixture revision declares, after its functions (so that
    the ops keep their line numbers); none at all for ``None``."""
    if phase is None:
        return ""
    lines = f"\n\nphase: str = {phase!r}\n"
    return lines + (f"phase_reason: str = {reason!r}\n" if reason else "")


# One upgrade (and downgrade) per rule that breaks it; the first upgrade line is the
# op the finding is about.
RISKY_REVISIONS = {
    "drop-table": ['op.drop_table("posts")'],
    "drop-column": ['op.drop_column("users", "email")'],
    "drop-and-add": [
        'op.drop_column("users", "display_name")\n'
        'op.add_column("users", sa.Column("nickname", sa.String(80)))',
        'op.drop_column("users", "nickname")\n'
        'op.add_column("users", sa.Column("display_name", sa.String(length=80)))',
    ],
    "alter-column-type": [
        'op.alter_column("users", "username", existing_type=sa.String(80), '
        "type_=sa.String(40))"
    ],
    "add-not-null-column": [
        'op.add_column("users", sa.Column("age", sa.Integer(), nullable=False))'
    ],
    "set-not-null": [
        'with op.batch_alter_table("posts") as batch_op:\n'
        '    batch_op.alter_column("title", existing_type=sa.String(200), '
        "nullable=False)"
    ],
    "create-index-concurrently": ['op.create_index("ix_users_email", "users", ["e"])'],
    "unique-constraint": [
        'op.create_unique_constraint("uq_posts_title", "posts", ["title"])'
    ],
    "foreign-key-not-valid": [
        'op.create_foreign_key("fk_p", "posts", "users", ["user_id"], ["id"])'
    ],
    "raw-sql": ['op.execute("UPDATE users SET email = lower(email)")'],
    "empty-downgrade": ['op.add_column("users", sa.Column("bio", sa.Text()))'],
}

SAFE_REVISIONS = {
    "index built concurrently": [
        "with op.get_context().autocommit_block():\n"
        '    op.create_index("ix_u", "users", ["email"], postgresql_concurrently=True)',
        'op.drop_index("ix_u", table_name="users")',
    ],
    "widened string": [
        'op.alter_column("users", "username", existing_type=sa.String(80), '
        "type_=sa.String(120))",
        'op.alter_column("users", "username", type_=sa.String(80))',
    ],
    "nullable column": [
        'op.add_column("users", sa.Column("bio", sa.Text(), nullable=True))',
        'op.drop_column("users", "bio")',
    ],
    "NOT NULL column with a server default": [
        'op.add_column("users", sa.Column("n", sa.Integer(), nullable=False, '
        'server_default="0"))',
        'op.drop_column("users", "n")',
    ],
    "foreign key NOT VALID": [
        'op.create_foreign_key("fk_p", "posts", "users", ["user_id"], ["id"], '
        "postgresql_not_valid=True)",
        'op.drop_constraint("fk_p", "posts")',
    ],
    "unique constraint and index on a new table": [
        'op.create_table("tags", sa.Column("name", sa.String(20), nullable=False))\n'
        'op.create_unique_constraint("uq_tags_name", "tags", ["name"])\n'
        'op.create_index("ix_tags_name", "tags", ["name"])',
        'op.drop_table("tags")',
    ],
    "data step as a Core expression": [
        'op.add_column("users", sa.Column("login", sa.String(80)))\n'
        'users = sa.table("users", sa.column("login"), sa.column("email"))\n'
        "op.execute(users.update().values(login=sa.func.lower(users.c.email)))",
        'op.drop_column("users", "login")',
    ],
    "empty baseline": ['"""Nothing."""', '"""Nothing."""'],
}


def fixture_source(
    tmp_path, upgrade: str, downgrade: str = "pass", acknowledge: str = ""
) -> RevisionSource:
    """A fixture revision file, parsed; ``acknowledge`` goes above the first op."""
    body = (acknowledge + "\n" if acknowledge else "") + upgrade
    text = FIXTURE_REVISION.format(
        revision="aaaa00000001",
        down_revision="bb4b390c7d31",
        upgrade=textwrap.indent(body, "    "),
        downgrade=textwrap.indent(downgrade, "    "),
        phase="",
    )
    path = tmp_path / "2026_12_01_000000-aaaa00000001_fixture.py"
    path.write_text(text)
    return RevisionSource.parse(path)


def findings_of(source: RevisionSource) -> list[lint.Finding]:
    """The linter's findings, with their acknowledgements."""
    return review_revision.acknowledge(source, lint.lint(source))


@pytest.mark.parametrize("rule", RISKY_REVISIONS)
def test_each_rule_finds_its_op(tmp_path, rule):
    source = fixture_source(tmp_path, *RISKY_REVISIONS[rule][:2])
    found = [item for item in findings_of(source) if item.rule == rule]
    assert len(found) == 1
    assert found[0].acknowledged is None
    assert found[0].why and found[0].instead
    if rule != "empty-downgrade":
        first_op = source.upgrade_ops()[0]
        assert (found[0].line, found[0].op) == (first_op.line, first_op.text)


@pytest.mark.parametrize("rule", [r for r in RISKY_REVISIONS if r != "empty-downgrade"])
def test_each_rule_is_acknowledged_by_a_comment_above_the_op(tmp_path, rule):
    comment = f"# review: allow {rule} - fixture reason"
    source = fixture_source(tmp_path, *RISKY_REVISIONS[rule][:2], acknowledge=comment)
    found = [item for item in findings_of(source) if item.rule == rule]
    assert found[0].acknowledged is not None
    assert found[0].acknowledged.reason == "fixture reason"


def test_empty_downgrade_is_acknowledged_in_its_body(tmp_path):
    (upgrade,) = RISKY_REVISIONS["empty-downgrade"]
    downgrade = "# review: allow empty-downgrade - fixture reason\npass"
    source = fixture_source(tmp_path, upgrade, downgrade)
    (found,) = findings_of(source)
    assert found.rule == "empty-downgrade"
    assert found.acknowledged.reason == "fixture reason"


@pytest.mark.parametrize("case", SAFE_REVISIONS)
def test_safe_revisions_have_no_finding(tmp_path, case):
    source = fixture_source(tmp_path, *SAFE_REVISIONS[case])
    assert findings_of(source) == []


def test_concurrent_index_outside_an_autocommit_block_is_found(tmp_path):
    upgrade = 'op.create_index("ix", "users", ["email"], postgresql_concurrently=True)'
    (found,) = findings_of(fixture_source(tmp_path, upgrade, "pass\n" + upgrade))
    assert found.rule == "create-index-concurrently"
    assert "transaction" in found.why


def test_sql_text_on_the_migration_connection_is_raw_sql(tmp_path):
    upgrade = 'op.get_bind().execute(sa.text("UPDATE users SET email = lower(email)"))'
    (found,) = findings_of(fixture_source(tmp_path, upgrade, upgrade))
    assert (found.rule, found.line) == ("raw-sql", 16)


def test_acknowledgement_needs_a_reason_and_the_right_rule(tmp_path):
    source = fixture_source(
        tmp_path,
        'op.drop_table("posts")',
        'op.create_table("posts", sa.Column("id", sa.Integer(), primary_key=True))',
        acknowledge="# review: allow drop-table\n# review: allow drop-colum - typo",
    )
    (found,) = findings_of(source)
    assert found.acknowledged is None
    notes = review_revision.acknowledgement_notes(source)
    assert any("without a reason" in note for note in notes)
    assert any("drop-colum` matches no finding" in note for note in notes)


# --- the report on temporary git repositories -------------------------------------

HEAD = "bb4b390c7d31"
AUDIT_HEAD = "eb39b7837a35"  # the audit database's history (alembic/binds/audit/)
AUDIT = {"database": "audit"}  # add_revision's arguments for a revision of it

ADD_BIO = (
    'op.add_column("users", sa.Column("bio", sa.Text(), nullable=True))',
    'op.drop_column("users", "bio")',
)
DROP_EMAIL = (
    'op.drop_column("users", "email")',
    'op.add_column("users", sa.Column("email", sa.String(120), nullable=True))',
)


@pytest.fixture
def repository(tmp_path, monkeypatch):
    """A git repository holding a copy of the project, committed on ``main``."""
    project = copy_project(tmp_path / "project")
    for variable in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{variable}_NAME", "Review Test")
        monkeypatch.setenv(f"GIT_{variable}_EMAIL", "review@example.com")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    monkeypatch.chdir(project)
    git(project, "init", "--quiet", "--initial-branch=main")
    commit(project, "The project")
    git(project, "checkout", "--quiet", "-b", "feature")
    return project


def commit(project: Path, message: str) -> None:
    """Commit everything in the temporary repository."""
    git(project, "add", "-A")
    git(project, "commit", "--quiet", "-m", message)


def add_revision(
    project: Path,
    revision: str,
    down_revision: str,
    ops: tuple[str, str],
    name="",
    database="default",
    phase: str | None = "",
    phase_reason: str = "",
) -> Path:
    """Write a revision file into the temporary project's history: the default
    database's, or another ``database``'s (alembic/binds/<database>/). It declares
    ``phase`` (by default the phase its ops have, as autogenerate writes it; none
    for ``None``) and ``phase_reason``."""
    folder = ("versions",) if database == "default" else ("binds", database)
    path = project.joinpath("alembic", *folder, f"2026_12_01_{name or revision}.py")

    def write(declared: str | None) -> None:
        """The file, declaring that phase."""
        text = FIXTURE_REVISION.format(
            revision=revision,
            down_revision=down_revision,
            upgrade=textwrap.indent(ops[0], "    "),
            downgrade=textwrap.indent(ops[1], "    "),
            phase=phase_lines(declared, phase_reason),
        )
        path.write_text(text)

    if phase == "":  # as autogenerate writes it: the phase of its ops
        write(None)
        phase = phases.classify(ops_of(path)).phase
    write(phase)
    return path


def ops_of(path: Path) -> list:
    """The Alembic operations a revision file's upgrade writes."""
    return phase_ops.alembic_ops(RevisionSource.parse(path))


def run_review(project: Path, *args: str, capsys) -> tuple[int, str, str]:
    """``migration-review`` in-process on the temporary project: status, out, err."""
    with importing_from(project):
        status = review.main(["-c", str(project / "alembic.ini"), *args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_clean_revision_passes(repository, capsys):
    add_revision(repository, "c1ea00000001", HEAD, ADD_BIO)
    commit(repository, "Add bio")
    status, out, _ = run_review(
        repository, "--base", "main", "--format", "json", capsys=capsys
    )
    report = json.loads(out)
    assert status == 0
    assert report["clean"] is True
    assert report["heads"] == ["c1ea00000001"] and report["base_heads"] == [HEAD]
    (revision,) = report["revisions"]
    assert (revision["revision"], revision["status"]) == ("c1ea00000001", "added")
    assert revision["down_revision"] == HEAD
    assert revision["findings"] == []
    # Only the default database's history changed: the report reads as it did.
    assert revision["database"] == "default"
    assert report["databases"]["audit"]["revisions"] == []
    sql = revision["sql"]
    assert (
        "ALTER TABLE users ADD COLUMN bio TEXT" in sql["upgrade"]["postgresql"]["sql"]
    )
    assert "ALTER TABLE users ADD COLUMN bio TEXT" in sql["upgrade"]["mysql"]["sql"]
    assert "ALTER TABLE users DROP COLUMN bio" in sql["downgrade"]["postgresql"]["sql"]
    assert [op["op"] for op in revision["ops"]] == [
        "op.add_column('users', sa.Column('bio', sa.Text(), nullable=True))",
        "op.drop_column('users', 'bio')",
    ]


def test_index_built_concurrently_in_its_own_revision_is_clean(repository, capsys):
    ops = (
        "with op.get_context().autocommit_block():\n"
        '    op.create_index("ix_users_display_name", "users", ["display_name"], '
        "postgresql_concurrently=True, if_not_exists=True)",
        'op.drop_index("ix_users_display_name", table_name="users")',
    )
    add_revision(repository, "1dc000000001", HEAD, ops)
    status, out, _ = run_review(repository, "--base", "main", capsys=capsys)
    assert status == 0, out
    assert (
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_users_display_name ON users" in out
    )


def test_risky_revision_fails_until_acknowledged(repository, capsys):
    path = add_revision(repository, "d0e500000001", HEAD, DROP_EMAIL)
    commit(repository, "Drop email")
    status, out, _ = run_review(repository, "--base", "main", capsys=capsys)
    assert status == 1
    assert "❌ **1 finding to fix or acknowledge**" in out
    assert "### `d0e500000001` Fixture revision\n" in out
    assert "Database `" not in out
    assert "❌ **drop-column** (squawk: ban-drop-column) · line 16" in out
    assert "Instead: Stop reading and writing the column" in out
    assert "ALTER TABLE users DROP COLUMN email;" in out

    # Acknowledged in the working tree, not yet committed: the review reads it.
    text = path.read_text().replace(
        "    op.drop_column",
        "    # review: allow drop-column - email moved to accounts in 2026-10\n"
        "    op.drop_column",
    )
    path.write_text(text)
    status, out, _ = run_review(repository, "--base", "main", capsys=capsys)
    assert status == 0
    assert "✅ **Clean** · 1 acknowledged" in out
    assert "acknowledged (line 16): email moved to accounts in 2026-10" in out


RENAMED_AND_BACK = "renamed and back in one revision: no release sees the other name"


def test_squawk_finding_without_a_twin_is_its_own_finding(repository, capsys):
    ops = (
        'op.rename_table("posts", "articles")',
        'op.rename_table("articles", "posts")',
    )
    add_revision(repository, "7e9a00000001", HEAD, ops, phase_reason=RENAMED_AND_BACK)
    status, out, _ = run_review(
        repository, "--base", "main", "--format", "json", capsys=capsys
    )
    (finding,) = json.loads(out)["revisions"][0]["findings"]
    assert status == 1
    assert (finding["rule"], finding["source"]) == ("renaming-table", "squawk")
    assert finding["op"] == "op.rename_table('posts', 'articles')"


def test_squawk_finding_is_acknowledged_by_its_rule_name(repository, capsys):
    ops = (
        "# review: allow renaming-table - nothing reads posts during the deploy\n"
        'op.rename_table("posts", "articles")',
        'op.rename_table("articles", "posts")',
    )
    add_revision(repository, "7e9a00000001", HEAD, ops, phase_reason=RENAMED_AND_BACK)
    status, out, _ = run_review(repository, "--base", "main", capsys=capsys)
    assert status == 0
    assert "✅ **renaming-table** (squawk) · line 17" in out


def test_revision_that_does_not_render_offline_is_a_finding(repository, capsys):
    ops = (
        'count = sa.select(sa.func.count()).select_from(sa.table("users"))\n'
        "users = op.get_bind().execute(count)\n"
        'op.add_column("users", sa.Column("bio", sa.Text()))\n'
        "if users.scalar() > 1000:\n"
        '    raise RuntimeError("too many users to add bio now")',
        'op.drop_column("users", "bio")',
    )
    path = add_revision(repository, "b1dd00000001", HEAD, ops)
    status, out, _ = run_review(
        repository, "--base", "main", "--format", "json", capsys=capsys
    )
    (revision,) = json.loads(out)["revisions"]
    (finding,) = revision["findings"]
    assert status == 1
    assert finding["rule"] == "render-failed"
    assert "upgrade on postgresql: AttributeError" in finding["why"]
    assert revision["sql"]["upgrade"]["postgresql"]["error"].startswith(
        "AttributeError"
    )

    path.write_text(
        path.read_text()
        + "\n# review: allow render-failed - reads rows through the connection\n"
    )
    status, out, _ = run_review(repository, "--base", "main", capsys=capsys)
    assert status == 0
    assert "reads rows through the connection" in out


def test_edited_and_removed_revisions_of_the_base(repository, capsys):
    versions = repository / "alembic" / "versions"
    users = next(versions.glob("*_adding_users_table.py"))
    text = users.read_text()
    users.write_text(text.replace('op.drop_table("users")', "# dropped\n    pass"))
    posts = next(versions.glob("*_adding_posts_table.py"))
    posts.write_text(
        posts.read_text().replace("def upgrade", "# a comment\ndef upgrade")
    )
    status, out, _ = run_review(
        repository, "--base", "main", "--format", "json", capsys=capsys
    )
    report = json.loads(out)
    assert status == 1
    assert [f["rule"] for f in report["graph_findings"]] == ["edited-revision"]
    statuses = {item["revision"]: item["status"] for item in report["revisions"]}
    assert statuses == {"ef55ddbae804": "modified", "e5d5fd2d0a27": "comments changed"}

    users.write_text(text)
    (versions / "2026_11_25_010452-bb4b390c7d31_adding_users_display_name.py").unlink()
    status, out, _ = run_review(repository, "--base", "main", capsys=capsys)
    assert status == 1
    assert "❌ **removed-revision** · `2026_11_25_010452-bb4b390c7d31" in out


def test_two_heads_fail(repository, capsys):
    add_revision(repository, "aaaa00000001", HEAD, ADD_BIO)
    add_revision(repository, "bbbb00000001", HEAD, ADD_BIO)
    commit(repository, "Two heads")
    status, out, _ = run_review(repository, "--base", "main", capsys=capsys)
    assert status == 1
    assert "- ❌ heads: `aaaa00000001`, `bbbb00000001`" in out
    assert "❌ **one-head**" in out


def test_a_merge_revision_has_no_finding_of_the_branches_it_merges(repository, capsys):
    """A merge's SQL is rendered from its first parent, and so runs the other
    branch's revision too: that revision's findings are its own, not the merge's
    (whose upgrade is ``pass``)."""
    rename = (
        'op.rename_table("posts", "articles")',
        'op.rename_table("articles", "posts")',
    )
    add_revision(repository, "aaaa00000001", HEAD, ("pass", "pass"))
    add_revision(
        repository, "bbbb00000001", HEAD, rename, phase_reason=RENAMED_AND_BACK
    )
    merge = FIXTURE_REVISION.format(
        revision="cccc00000001",
        down_revision="parents",
        upgrade="    pass",
        downgrade="    pass",
        phase=phase_lines("merge"),
    ).replace('"parents"', '("aaaa00000001", "bbbb00000001")')
    (repository / "alembic" / "versions" / "2026_12_02_merge.py").write_text(merge)
    commit(repository, "Two branches and their merge")

    status, out, _ = run_review(
        repository, "--base", "main", "--format", "json", capsys=capsys
    )

    reviewed = {each["revision"]: each for each in json.loads(out)["revisions"]}
    assert [f["rule"] for f in reviewed["bbbb00000001"]["findings"]] == [
        "renaming-table"
    ]
    assert reviewed["cccc00000001"]["findings"] == []
    assert reviewed["aaaa00000001"]["findings"] == []
    assert status == 1  # the rename, acknowledged nowhere


def test_reused_revision_id_fails(repository, capsys):
    add_revision(repository, "aaaa00000001", HEAD, ADD_BIO)
    add_revision(repository, "aaaa00000001", HEAD, ADD_BIO, name="again")
    status, out, _ = run_review(
        repository, "--base", "main", "--format", "json", capsys=capsys
    )
    (finding,) = json.loads(out)["graph_findings"]
    assert status == 1
    assert (finding["rule"], finding["revision"]) == (
        "duplicate-revision-id",
        "aaaa00000001",
    )
    assert "2026_12_01_again.py" in finding["why"]


def test_stale_parent_fails(repository, capsys):
    git(repository, "checkout", "--quiet", "main")
    add_revision(repository, "ma1400000001", HEAD, ADD_BIO)
    commit(repository, "Main moves on")
    git(repository, "checkout", "--quiet", "feature")
    add_revision(repository, "fea700000001", HEAD, ADD_BIO)
    commit(repository, "Feature revises the old head")
    status, out, _ = run_review(repository, "--base", "main", capsys=capsys)
    assert status == 1
    assert "❌ **stale-parent**" in out
    assert "It revises bb4b390c7d31; the base's head is ['ma1400000001']." in out


def test_unchanged_branch_is_clean_and_default_base_is_main(repository, capsys):
    status, out, _ = run_review(repository, capsys=capsys)
    assert status == 0
    assert out.startswith("## Migration review: 0 revisions changed since `main`")


def test_bad_base_and_no_checkout_exit_2_with_one_line(repository, tmp_path, capsys):
    status, out, err = run_review(repository, "--base", "nope", capsys=capsys)
    assert (status, out) == (2, "")
    assert (
        err
        == "migration-review: error: unknown git base: 'nope' is not a commit here\n"
    )

    shutil.rmtree(repository / ".git")
    status, _, err = run_review(repository, capsys=capsys)
    assert status == 2
    assert err.startswith("migration-review: error: not a git checkout:")
    assert err.count("\n") == 1


def test_console_script_exits_2_without_traceback(repository):
    script = Path(sys.executable).with_name("migration-review")
    result = subprocess.run(
        [str(script), "--base", "nope"],
        cwd=repository,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "migration-review: error: unknown git base: 'nope' is not a commit here"
    ]


def test_project_history_passes_the_review(repository, capsys):
    status, out, _ = run_review(repository, "--all", "--format", "json", capsys=capsys)
    report = json.loads(out)
    assert status == 0, out
    # Each database's history, the default one's first.
    assert [(item["database"], item["revision"]) for item in report["revisions"]] == [
        ("default", "f800a65a1a3a"),
        ("default", "ef55ddbae804"),
        ("default", "e5d5fd2d0a27"),
        ("default", HEAD),
        ("audit", AUDIT_HEAD),
    ]
    assert report["databases"]["audit"]["heads"] == [AUDIT_HEAD]
    findings = [f for item in report["revisions"] for f in item["findings"]]
    assert all(finding["acknowledged"]["reason"] for finding in findings)
    assert {finding["rule"] for finding in findings} == {"set-not-null"}


def imported_packages(folder: Path) -> dict[Path, set[str]]:
    """The top-level packages each module under ``folder`` imports."""
    imported = {}
    for path in folder.rglob("*.py"):
        names = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names.add((node.module or "").split(".")[0])
        imported[path] = names
    return imported


def test_app_never_imports_tools():
    for path, names in imported_packages(ROOT / "app").items():
        assert "tools" not in names, path


def test_the_kit_and_its_commands_never_import_the_app():
    """The kit is any Flask-SQLAlchemy project's: env.py hands it the app. The two
    exceptions each import a release's ``app`` in a process of their own, run in
    that release's folder: ``--trace``'s running release (a checkout of the base)
    and a rolling deploy's release server."""
    processes = {
        ROOT / "tools" / "running_release_worker.py",
        ROOT / "tools" / "release_server.py",
    }
    for folder in ("flask_alembic_kit", "tools"):
        for path, names in imported_packages(ROOT / folder).items():
            allowed = {"app"} if path in processes else set()
            assert not names & {"app", "tests", "conftest"} - allowed, path


# --- less noise: what the report leaves out or says once ---------------------------

RENAME_EMAIL = (
    'op.alter_column("users", "email", new_column_name="mail", '
    "existing_type=sa.String(120))",
    'op.alter_column("users", "mail", new_column_name="email", '
    "existing_type=sa.String(120))",
)
BATCH_DROP = (
    'op.add_column("users", sa.Column("nickname", sa.String(40), nullable=True))',
    'with op.batch_alter_table("users") as batch_op:\n'
    '    batch_op.drop_column("nickname")',
)


def test_every_finding_says_what_to_do_instead(repository, capsys):
    add_revision(repository, "1e550000001a", HEAD, RENAME_EMAIL)
    commit(repository, "Rename email")
    _, out, _ = run_review(
        repository, "--base", "main", "--format", "json", capsys=capsys
    )
    findings = json.loads(out)["revisions"][0]["findings"]
    assert "renaming-column" in {finding["rule"] for finding in findings}
    assert all(finding["instead"].strip() for finding in findings), findings


def test_sqlite_batch_sql_is_explained_once(repository, capsys):
    add_revision(repository, "1e550000002a", HEAD, BATCH_DROP)
    add_revision(repository, "1e550000003a", "1e550000002a", BATCH_DROP, name="two")
    commit(repository, "Two batch downgrades")
    _, out, _ = run_review(repository, "--base", "main", capsys=capsys)
    assert "not rendered" not in out
    assert out.count("SQLite: batch operations (a table copy) render only on") == 1


def test_table_created_earlier_on_the_branch_is_new(repository, capsys):
    add_revision(
        repository,
        "1e550000004a",
        HEAD,
        (
            'op.create_table("tags", sa.Column("id", sa.Integer(), primary_key=True),'
            ' sa.Column("name", sa.String(40), nullable=True))',
            'op.drop_table("tags")',
        ),
    )
    add_revision(
        repository,
        "1e550000005a",
        "1e550000004a",
        (
            'op.create_index("ix_tags_name", "tags", ["name"])\n'
            'op.create_unique_constraint("uq_tags_name", "tags", ["name"])\n'
            'op.add_column("tags", sa.Column("slug", sa.String(40), nullable=False))',
            'op.drop_column("tags", "slug")\n'
            'op.drop_constraint("uq_tags_name", "tags", type_="unique")\n'
            'op.drop_index("ix_tags_name", table_name="tags")',
        ),
        name="second",
    )
    commit(repository, "Tags")
    status, out, _ = run_review(
        repository, "--base", "main", "--format", "json", capsys=capsys
    )
    second = json.loads(out)["revisions"][1]
    assert second["findings"] == [], second["findings"]
    assert status == 0


def test_ops_on_the_migration_connection_are_listed(repository, capsys):
    add_revision(
        repository,
        "1e550000006a",
        HEAD,
        (
            "bind = op.get_bind()\n"
            'sa.Enum("a", "b", name="mood").create(bind)\n'
            'bind.execute(sa.text("UPDATE users SET email = lower(email)"))\n'
            'sa.Enum("c", name="other").create(op.get_bind())',
            'sa.Enum(name="mood").drop(op.get_bind())\n'
            'sa.Enum(name="other").drop(op.get_bind())',
        ),
    )
    commit(repository, "Connection ops")
    _, out, _ = run_review(
        repository, "--base", "main", "--format", "json", capsys=capsys
    )
    revision = json.loads(out)["revisions"][0]
    listed = [(op["function"], op["op"]) for op in revision["ops"]]
    assert listed == [
        ("upgrade", "sa.Enum('a', 'b', name='mood').create(bind)"),
        ("upgrade", "bind.execute(sa.text('UPDATE users SET email = lower(email)'))"),
        ("upgrade", "sa.Enum('c', name='other').create(op.get_bind())"),
        ("downgrade", "sa.Enum(name='mood').drop(op.get_bind())"),
        ("downgrade", "sa.Enum(name='other').drop(op.get_bind())"),
    ]
    assert "raw-sql" in {finding["rule"] for finding in revision["findings"]}


def test_a_widened_column_is_not_a_type_change(repository, capsys):
    """VARCHAR(200) to VARCHAR(300) rewrites nothing: neither the linter nor
    squawk's changing-column-type reports it."""
    add_revision(
        repository,
        "1e550000007a",
        HEAD,
        (
            'op.alter_column("posts", "title", existing_type=sa.String(200), '
            "type_=sa.String(300))",
            'op.alter_column("posts", "title", existing_type=sa.String(300), '
            "type_=sa.String(200))",
        ),
    )
    commit(repository, "Longer titles")
    _, out, _ = run_review(
        repository, "--base", "main", "--format", "json", capsys=capsys
    )
    upgrade_rules = {
        finding["rule"]
        for finding in json.loads(out)["revisions"][0]["findings"]
        if finding["line"] == 16
    }
    assert upgrade_rules == set()


def test_a_squash_is_reported_as_one_with_the_schema_compared(repository, capsys):
    with importing_from(repository):
        assert squash.main(["-c", str(repository / "alembic.ini"), "e5d5fd2d0a27"]) == 0
    capsys.readouterr()
    status, out, _ = run_review(
        repository, "--base", "main", "--format", "json", capsys=capsys
    )
    report = json.loads(out)
    assert status == 0
    assert report["graph_findings"] == []
    assert report["revisions"] == []
    assert report["squash"]["baseline"] == "e5d5fd2d0a27"
    assert report["squash"]["replaced"] == [
        "f800a65a1a3a",
        "ef55ddbae804",
        "e5d5fd2d0a27",
    ]
    # On SQLite, and on the servers the tests are configured with.
    assert report["squash"]["schema"] == {
        DATABASE_NAMES[backend]: "identical" for backend in configured_backends()
    }

    # A baseline that builds another schema is a finding; so is a deleted revision
    # the baseline does not name.
    baseline = next((repository / "alembic" / "versions").glob("*_squashed_*.py"))
    baseline.write_text(
        baseline.read_text().replace(
            'sa.Column("title", sa.String(length=200), nullable=False),\n', ""
        )
    )
    next((repository / "alembic" / "versions").glob("*bb4b390c7d31*.py")).unlink()
    status, out, _ = run_review(repository, "--base", "main", capsys=capsys)
    assert status == 1
    assert out.startswith("## Migration review: 0 revisions and a squash changed")
    assert "❌ **squash-changed-schema** · `e5d5fd2d0a27`" in out
    assert "On SQLite: - column title VARCHAR(200) NOT NULL (table posts)." in out
    assert "❌ **removed-revision** · `2026_11_25_010452-bb4b390c7d31" in out
    assert out.count("removed-revision") == 1


# --- another database's history: the audit bind's (alembic/binds/audit/) ---------

INDEX_AUDIT_ENTITY = (
    'op.create_index("ix_audit_events_entity", "audit_events", ["entity"])',
    'op.drop_index("ix_audit_events_entity", table_name="audit_events")',
)
ADD_AUDIT_SOURCE = (
    'op.add_column("audit_events", sa.Column("source", sa.String(40), nullable=True))',
    'op.drop_column("audit_events", "source")',
)


def test_audit_revision_is_reviewed_with_its_own_config(repository, capsys):
    add_revision(repository, "a0d100000001", AUDIT_HEAD, INDEX_AUDIT_ENTITY, **AUDIT)
    commit(repository, "Index audit events by entity")
    status, out, _ = run_review(
        repository, "--base", "main", "--format", "json", capsys=capsys
    )
    report = json.loads(out)
    assert status == 1
    (revision,) = report["revisions"]
    assert (revision["database"], revision["revision"]) == ("audit", "a0d100000001")
    assert revision["path"] == "alembic/binds/audit/2026_12_01_a0d100000001.py"
    upgrade = revision["sql"]["upgrade"]
    assert (
        "CREATE INDEX ix_audit_events_entity ON audit_events (entity);"
        in upgrade["postgresql"]["sql"]
    )
    for dialect in ("postgresql", "mysql"):
        assert (
            "UPDATE alembic_version_audit SET version_num='a0d100000001' WHERE "
            "alembic_version_audit.version_num = 'eb39b7837a35';"
        ) in upgrade[dialect]["sql"]
        assert "alembic_version " not in upgrade[dialect]["sql"]
    assert [
        (finding["rule"], finding["also"], finding["database"], finding["line"])
        for finding in revision["findings"]
    ] == [
        (
            "create-index-concurrently",
            ["require-concurrent-index-creation"],
            "audit",
            16,
        )
    ]
    assert report["graph_findings"] == []
    assert (report["heads"], report["base_heads"]) == ([HEAD], [HEAD])
    audit = report["databases"]["audit"]
    assert audit["section"] == "audit"
    assert audit["version_table"] == "alembic_version_audit"
    assert (audit["heads"], audit["base_heads"]) == (["a0d100000001"], [AUDIT_HEAD])
    assert audit["revisions"] == ["a0d100000001"]


def test_audit_revision_is_named_in_the_markdown(repository, capsys):
    add_revision(repository, "a0d100000002", AUDIT_HEAD, ADD_AUDIT_SOURCE, **AUDIT)
    commit(repository, "Audit events' source")
    status, out, _ = run_review(repository, "--base", "main", capsys=capsys)
    assert status == 0, out
    graph = out.split("### Revision graph\n\n", 1)[1].split("\n### ", 1)[0]
    assert graph.splitlines() == [
        "Database `default`:",
        "",
        f"- ✅ head: `{HEAD}`",
        f"- base `main` head: `{HEAD}`",
        "- ✅ new revisions build on the base's head; no id is reused",
        "",
        "Database `audit`:",
        "",
        "- ✅ head: `a0d100000002`",
        f"- base `main` head: `{AUDIT_HEAD}`",
        "- ✅ new revisions build on the base's head; no id is reused",
    ]
    assert "### `a0d100000002` Fixture revision · database `audit`\n" in out
    assert "ALTER TABLE audit_events ADD COLUMN source VARCHAR(40);" in out
    assert "UPDATE alembic_version_audit SET version_num='a0d100000002'" in out


def test_two_heads_in_the_audit_history_fail_there(repository, capsys):
    add_revision(repository, "a0d100000003", AUDIT_HEAD, ADD_AUDIT_SOURCE, **AUDIT)
    add_revision(repository, "a0d100000004", AUDIT_HEAD, INDEX_AUDIT_ENTITY, **AUDIT)
    status, out, _ = run_review(
        repository, "--base", "main", "--format", "json", capsys=capsys
    )
    assert status == 1
    (finding,) = json.loads(out)["graph_findings"]
    assert (finding["rule"], finding["database"], finding["revision"]) == (
        "one-head",
        "audit",
        "a0d100000003, a0d100000004",
    )
    assert json.loads(out)["heads"] == [HEAD]  # the default database's: fine

    status, out, _ = run_review(repository, "--base", "main", capsys=capsys)
    audit_graph = out.split("Database `audit`:\n\n", 1)[1].split("\n\n", 1)[0]
    assert audit_graph.splitlines()[0] == "- ❌ heads: `a0d100000003`, `a0d100000004`"
    assert "- ❌ **one-head** · `a0d100000003, a0d100000004`" in audit_graph


def test_audit_revision_revising_a_default_revision_is_a_missing_parent(
    repository, capsys
):
    add_revision(repository, "a0d100000005", HEAD, ADD_AUDIT_SOURCE, **AUDIT)
    status, out, _ = run_review(
        repository, "--base", "main", "--format", "json", capsys=capsys
    )
    report = json.loads(out)
    assert status == 1
    rules = [
        (f["rule"], f["database"], f["revision"]) for f in report["graph_findings"]
    ]
    # Revising the default database's head, it is a second head of its own history.
    assert rules == [
        ("one-head", "audit", f"a0d100000005, {AUDIT_HEAD}"),
        ("missing-parent", "audit", "a0d100000005"),
    ]
    assert report["graph_findings"][1]["why"].endswith(
        f"({HEAD} is a revision of the default database's history: each database "
        "has a history of its own, and a revision revises one of its own history's.)"
    )


def test_stale_parent_in_the_audit_history(repository, capsys):
    git(repository, "checkout", "--quiet", "main")
    add_revision(repository, "a0d100000006", AUDIT_HEAD, ADD_AUDIT_SOURCE, **AUDIT)
    commit(repository, "Main moves the audit history on")
    git(repository, "checkout", "--quiet", "feature")
    add_revision(repository, "a0d100000007", AUDIT_HEAD, INDEX_AUDIT_ENTITY, **AUDIT)
    # The default history moves on too, from its up-to-date head: that is fine.
    add_revision(repository, "c1ea00000009", HEAD, ADD_BIO)
    commit(repository, "Feature revises the audit history's old head")
    status, out, _ = run_review(
        repository, "--base", "main", "--format", "json", capsys=capsys
    )
    report = json.loads(out)
    assert status == 1
    (finding,) = report["graph_findings"]
    assert (finding["rule"], finding["database"], finding["revision"]) == (
        "stale-parent",
        "audit",
        "a0d100000007",
    )
    assert finding["why"].endswith(
        f"It revises {AUDIT_HEAD}; the base's head is ['a0d100000006']."
    )
    assert [(item["database"], item["revision"]) for item in report["revisions"]] == [
        ("default", "c1ea00000009"),
        ("audit", "a0d100000007"),
    ]


def test_an_id_in_two_histories_is_a_duplicate(repository, capsys):
    add_revision(repository, HEAD, AUDIT_HEAD, ADD_AUDIT_SOURCE, **AUDIT)
    status, out, _ = run_review(
        repository, "--base", "main", "--format", "json", capsys=capsys
    )
    assert status == 1
    (finding,) = json.loads(out)["graph_findings"]
    assert (finding["rule"], finding["database"], finding["revision"]) == (
        "duplicate-revision-id",
        "audit",
        HEAD,
    )
    assert finding["why"].endswith(
        f"{HEAD} is also a revision of the default database's history: "
        f"`alembic upgrade {HEAD}` acts on both databases."
    )


def test_histories_come_from_the_sections_of_alembic_ini(repository, capsys):
    """A section with a ``script_location`` is a history, whatever its name,
    reviewed with its own config (here env.py says no model uses it)."""
    config = repository / "alembic.ini"
    config.write_text(
        config.read_text().replace(
            "[post_write_hooks]",
            "[archive]\nscript_location = %(here)s/alembic\n"
            "version_locations = %(here)s/alembic/binds/archive\n"
            "version_table = alembic_version_archive\npath_separator = os\n\n"
            "[post_write_hooks]",
        )
    )
    (repository / "alembic" / "binds" / "archive").mkdir()
    add_revision(
        repository, "a1c100000001", "a1c100000000", ADD_BIO, database="archive"
    )
    status, out, _ = run_review(
        repository, "--base", "main", "--format", "json", capsys=capsys
    )
    report = json.loads(out)
    assert status == 1
    assert list(report["databases"]) == ["default", "archive", "audit"]
    assert report["databases"]["archive"]["version_table"] == "alembic_version_archive"
    (finding,) = report["graph_findings"]
    assert (finding["rule"], finding["database"], finding["why"]) == (
        "missing-parent",
        "archive",
        "The revision revises an id no revision file declares. (a1c100000000)",
    )
    (revision,) = report["revisions"]
    (finding,) = revision["findings"]
    assert (finding["rule"], finding["database"]) == ("render-failed", "archive")
    assert "no model uses the database 'archive'" in finding["why"]
