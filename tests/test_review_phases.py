"""``migration-review`` and deploy phases: each revision's declared phase beside
the one its ops have (the kit's rules, read from the file's syntax tree), the
findings ``mixed-phase``, ``phase-mismatch`` and ``phase-missing``, and an override
with ``phase_reason`` shown instead of a finding."""

import json

import pytest
from test_review import (
    ADD_BIO,
    DROP_EMAIL,
    HEAD,
    add_revision,
    commit,
    fixture_source,
    run_review,
)
from test_review import repository as repository  # noqa: F401  (the fixture)

from conftest import configured_backends
from in_process import importing_from
from tools import report, report_json, review, trace_servers
from tools.gitrepo import git
from tools.review_phase import phase_of
from tools.trace_findings import DATABASE_NAMES

# (upgrade, the phase its ops have)
OPS_PHASES = {
    "nullable column and a new table": (
        'op.add_column("users", sa.Column("bio", sa.Text(), nullable=True))\n'
        'op.create_table("tags", sa.Column("id", sa.Integer(), primary_key=True))',
        "expand",
    ),
    "NOT NULL column with a server default": (
        'op.add_column("users", sa.Column("n", sa.Integer(), nullable=False, '
        'server_default="0"))',
        "expand",
    ),
    "widened string": (
        'op.alter_column("users", "username", existing_type=sa.String(80), '
        "type_=sa.String(120))",
        "expand",
    ),
    "dropped column, in batch mode": (
        'with op.batch_alter_table("users") as batch_op:\n'
        '    batch_op.drop_column("email")',
        "contract",
    ),
    "narrowed string": (
        'op.alter_column("users", "username", existing_type=sa.String(80), '
        "type_=sa.String(40))",
        "contract",
    ),
    # Neither release finds the other's name.
    "renamed table": ('op.rename_table("posts", "articles")', "mixed"),
    "dropped Enum value": (
        'op.alter_enum_values("posts", "status", ["a"], existing=["a", "b"], '
        'name="status")',
        "contract",
    ),
    "NOT NULL column without a default": (
        'op.add_column("users", sa.Column("age", sa.Integer(), nullable=False))',
        "mixed",
    ),
    "a column added and another dropped": (
        'op.add_column("users", sa.Column("bio", sa.Text()))\n'
        'op.drop_column("users", "email")',
        "mixed",
    ),
    "a table the revision creates, then tightens": (
        'op.create_table("tags", sa.Column("id", sa.Integer(), primary_key=True))\n'
        'op.add_column("tags", sa.Column("name", sa.String(20), nullable=False))',
        "expand",
    ),
}


@pytest.mark.parametrize("case", OPS_PHASES)
def test_the_ops_phase_is_read_from_the_file(tmp_path, case):
    upgrade, expected = OPS_PHASES[case]
    assert phase_of(fixture_source(tmp_path, upgrade)).ops_phase == expected


def reviewed(project, capsys) -> tuple[int, dict, str]:
    """The review of the branch: status, the JSON report, the Markdown one."""
    status, out, _ = run_review(
        project, "--base", "main", "--format", "json", capsys=capsys
    )
    _, markdown, _ = run_review(project, "--base", "main", capsys=capsys)
    return status, json.loads(out), markdown


def phase_rules(report: dict, index: int = 0) -> list[str]:
    """The phase findings of one reviewed revision."""
    return [
        finding["rule"]
        for finding in report["revisions"][index]["findings"]
        if "phase" in finding["rule"]
    ]


def test_the_phase_of_an_expand_and_a_contract_revision(repository, capsys):
    add_revision(repository, "e0a000000001", HEAD, ADD_BIO)
    drop = (
        "# review: allow drop-column - bio was never used\n"
        'op.drop_column("users", "bio")',
        ADD_BIO[0],
    )
    add_revision(repository, "c0a000000001", "e0a000000001", drop)
    commit(repository, "Bio, and bio gone")

    status, report, markdown = reviewed(repository, capsys)

    expand, contract = report["revisions"]
    assert expand["phase"] == {
        "declared": "expand",
        "reason": None,
        "ops": "expand",
        "breaks": [],
        "adds": ["adds column users.bio"],
    }
    assert contract["phase"]["declared"] == contract["phase"]["ops"] == "contract"
    assert contract["phase"]["breaks"] == ["drops column users.bio"]
    assert phase_rules(report, 0) == phase_rules(report, 1) == []
    assert "Deploy phase: expand (the ops say expand: adds column users.bio)" in (
        markdown
    )
    assert "Deploy phase: contract (the ops say contract: drops column users.bio)" in (
        markdown
    )
    assert status == 0


def test_a_column_added_and_another_dropped_is_mixed(repository, capsys):
    ops = (ADD_BIO[0] + "\n" + DROP_EMAIL[0], DROP_EMAIL[1] + "\n" + ADD_BIO[1])
    add_revision(repository, "3a1000000001", HEAD, ops)
    commit(repository, "Bio for email")

    status, report, markdown = reviewed(repository, capsys)

    assert report["revisions"][0]["phase"]["ops"] == "mixed"
    assert phase_rules(report) == ["mixed-phase"]
    (finding,) = [
        f for f in report["revisions"][0]["findings"] if f["rule"] == "mixed-phase"
    ]
    assert "drops column users.email; adds column users.bio" in finding["why"]
    assert (
        "split it into an expand revision and a contract one"
        in finding["instead"].lower()
    )
    assert "❌ **mixed-phase**" in markdown
    assert status == 1


def test_a_drop_declared_expand_is_a_mismatch_unless_a_reason_is_given(
    repository, capsys
):
    path = add_revision(repository, "3a1000000002", HEAD, DROP_EMAIL, phase="expand")
    commit(repository, "Drop email, as expand")

    status, report, markdown = reviewed(repository, capsys)

    assert phase_rules(report) == ["phase-mismatch"]
    (finding,) = [
        f for f in report["revisions"][0]["findings"] if f["rule"] == "phase-mismatch"
    ]
    assert "the ops say contract: drops column users.email" in finding["why"]
    assert finding["line"] is not None and finding["op"] == "phase"
    assert "Deploy phase: expand, but the ops say contract" in markdown
    assert status == 1

    reason = "nothing has read users.email since release 12"
    add_revision(
        repository,
        "3a1000000002",
        HEAD,
        DROP_EMAIL,
        phase="expand",
        phase_reason=reason,
    )
    assert path.exists()

    status, report, markdown = reviewed(repository, capsys)

    assert phase_rules(report) == []
    assert report["revisions"][0]["phase"]["reason"] == reason
    assert (
        f"Deploy phase: expand (overridden: {reason}; the ops say contract: drops "
        "column users.email)"
    ) in markdown


def test_a_contract_revision_whose_ops_say_expand_is_a_note(repository, capsys):
    add_revision(repository, "3a1000000003", HEAD, ADD_BIO, phase="contract")

    status, report, _ = reviewed(repository, capsys)

    assert phase_rules(report) == []
    assert any("its ops say expand" in note for note in report["revisions"][0]["notes"])
    assert status == 0


def test_a_new_revision_without_a_phase_is_a_finding(repository, capsys):
    add_revision(repository, "3a1000000004", HEAD, ADD_BIO, phase=None)

    status, report, markdown = reviewed(repository, capsys)

    assert phase_rules(report) == ["phase-missing"]
    (finding,) = report["revisions"][0]["findings"]
    assert 'phase: str = "expand"' in finding["instead"]
    assert "Deploy phase: none declared, taken as mixed; the ops say expand" in (
        markdown
    )
    assert status == 1


def test_a_revision_of_the_base_is_not_held_to_its_phase(repository, capsys):
    """With ``--all``, every revision is reviewed; those already on the base have
    no phase (written before the kit marked them): shown, not a finding."""
    status, out, _ = run_review(repository, "--all", "--format", "json", capsys=capsys)
    report = json.loads(out)
    assert all(
        phase_rules(report, index) == [] for index in range(len(report["revisions"]))
    )
    assert {item["phase"]["declared"] for item in report["revisions"]} == {None}


# --- --trace: the running release against the expand phase ------------------------

SERVERS = [name for name in configured_backends() if name != "sqlite"]
TRACED_ON = {DATABASE_NAMES[name] for name in configured_backends()}


def traced(project) -> tuple[dict, str]:
    """``migration-review --trace`` on the branch, on SQLite and each configured
    server (TEST_POSTGRESQL_URL, TEST_MYSQL_URL): the JSON report and the
    Markdown one."""
    tracing = review.TraceOptions(50, 1000.0, trace_servers.server_urls(None, None))
    with importing_from(project):
        result = review.review(project / "alembic.ini", "main", tracing=tracing)
    return json.loads(report_json.as_json(result)), report.as_markdown(result)


def release_failures(report: dict, index: int = 0) -> dict[str, str]:
    """The ``breaks-running-release`` finding of a revision, per database named
    in it: database -> the finding's text."""
    found = [
        finding["why"]
        for finding in report["revisions"][index]["findings"]
        if finding["rule"] == "breaks-running-release"
    ]
    return {
        database: why
        for why in found
        for database in TRACED_ON
        if f"On {database}," in why
    }


def test_a_pure_expand_revision_keeps_the_running_release_working(repository):
    ops = (
        ADD_BIO[0] + "\n"
        'op.create_table("tags", sa.Column("id", sa.Integer(), primary_key=True), '
        'sa.Column("name", sa.String(40), nullable=True))',
        'op.drop_table("tags")\n' + ADD_BIO[1],
    )
    add_revision(repository, "e0a000000002", HEAD, ops)
    commit(repository, "Bio and tags")

    report, markdown = traced(repository)

    (revision,) = report["revisions"]
    assert revision["phase"]["declared"] == "expand"
    assert release_failures(report) == {}
    for database in configured_backends():
        check = revision["trace"][database]["running_release"]
        assert check == {"checked": ["User", "Post"], "failures": [], "error": None}
    assert (
        "✅ the running release (the base's models) inserts, selects, updates and "
        "deletes a row of User, Post"
    ) in markdown
    rules = {finding["rule"] for finding in revision["findings"]}
    assert "breaks-running-release" not in rules


def test_a_drop_declared_expand_breaks_the_running_release(repository):
    drop = (
        'op.drop_column("users", "display_name")',
        'op.add_column("users", sa.Column("display_name", sa.String(80)))',
    )
    add_revision(repository, "3a1000000005", HEAD, drop, phase="expand")
    commit(repository, "Drop display_name, as expand")

    report, markdown = traced(repository)

    failures = release_failures(report)
    assert set(failures) == TRACED_ON
    for why in failures.values():
        assert "User insert: " in why and "display_name" in why
    assert "Post insert" not in " ".join(failures.values())  # posts keep working
    check = report["revisions"][0]["trace"]["sqlite"]["running_release"]
    assert [(f["class"], f["op"]) for f in check["failures"]] == [("User", "insert")]
    assert "❌ **breaks-running-release** (trace)" in markdown
    assert not report["clean"]


def test_a_column_made_not_null_breaks_the_running_release(repository):
    """The base's models map ``users.bio`` nullable and leave it NULL: the branch
    makes it NOT NULL without a default, in a revision declared expand."""
    add_revision(repository, "e0a000000003", HEAD, ADD_BIO)
    repository.joinpath("app", "models.py").write_text(
        repository.joinpath("app", "models.py")
        .read_text()
        .replace(
            "    display_name: orm.Mapped[str] = orm.mapped_column(sa.String(80))\n",
            "    display_name: orm.Mapped[str] = orm.mapped_column(sa.String(80))\n"
            "    bio: orm.Mapped[str | None] = orm.mapped_column(sa.Text)\n",
        )
    )
    commit(repository, "Bio")
    git(repository, "branch", "--force", "main")  # released: the base maps bio
    tighten = (
        'users = sa.table("users", sa.column("bio", sa.Text()))\n'
        'op.execute(users.update().values(bio=""))\n'
        'with op.batch_alter_table("users") as batch_op:\n'
        '    batch_op.alter_column("bio", existing_type=sa.Text(), nullable=False)',
        'with op.batch_alter_table("users") as batch_op:\n'
        '    batch_op.alter_column("bio", existing_type=sa.Text(), nullable=True)',
    )
    add_revision(repository, "e0a000000004", "e0a000000003", tighten, phase="expand")
    commit(repository, "Bio required")

    report, _ = traced(repository)

    (revision,) = report["revisions"]
    assert revision["phase"]["ops"] == "contract"
    failures = release_failures(report)
    assert set(failures) == TRACED_ON
    for why in failures.values():
        assert "User insert: " in why and "bio" in why.lower()


def test_a_base_laid_out_otherwise_is_one_line(repository):
    """A base whose models are not at ``app.db.db``: the check says so, once per
    database, and finds nothing."""
    git(repository, "checkout", "--quiet", "main")
    git(repository, "mv", "app/db.py", "app/database.py")
    commit(repository, "db.py renamed")
    git(repository, "checkout", "--quiet", "feature")
    add_revision(repository, "e0a000000005", HEAD, ADD_BIO)

    report, markdown = traced(repository)

    check = report["revisions"][0]["trace"]["sqlite"]["running_release"]
    assert check["error"].startswith("the base's models do not import (app.db.db): ")
    assert "ModuleNotFoundError" in check["error"]
    assert release_failures(report) == {}
    assert "- ⚠️ not checked against the running release: the base's models" in (
        markdown
    )
