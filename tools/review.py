"""``migration-review``: review the revision files a branch adds or changes.

Each database's history on its own (alembic.ini's sections: the default one, and
one per bind). For each revision, in graph order: its ops, the SQL it runs on each
database (rendered offline with its history's config), the safety linter's and
squawk's findings, and the graph checks of its history (one head, parent is the
base's head, no id reused). Markdown or JSON; exit status
0 when clean, 1 with an unacknowledged finding, 2 on bad input.
"""

import argparse
import ast
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from tools import (
    gitrepo,
    histories,
    lint,
    report,
    squash_review,
    squawk,
    trace,
    trace_findings,
)
from tools.graph import History, parents
from tools.render import DIALECT_URLS, Rendered, render
from tools.revision_source import Op, RevisionSource

# Checks on the history as a whole. Only edited-revision (and render-failed, on the
# revision file) can be acknowledged: the others break `alembic upgrade head`.
GRAPH_RULES = {
    "one-head": (
        "The history must have exactly one head, or `alembic upgrade head` refuses "
        "to run.",
        "Point the new revision's down_revision at the other head (rebase), or "
        '`alembic merge heads -m "merge"`.',
    ),
    "stale-parent": (
        "The revision revises an older revision, not the base's head: merged, the "
        "history has two heads.",
        "Rebase on the base and set down_revision to the base's head.",
    ),
    "duplicate-revision-id": (
        "Two revision files declare the same revision id: Alembic keeps one of them.",
        "Give the new file a new id (`alembic revision` makes one).",
    ),
    "missing-parent": (
        "The revision revises an id no revision file declares.",
        "Set down_revision to an existing revision (the head).",
    ),
    "removed-revision": (
        "A revision file that databases may already be at was removed: they can no "
        "longer upgrade or downgrade from it.",
        "Keep the file; undo its change with a new revision instead.",
    ),
    "render-failed": (
        "The revision's SQL does not render offline (`alembic upgrade --sql`): a DBA "
        "cannot read or run it by hand, and squawk cannot check it.",
        "Fix the error; a data step that needs a live connection (op.get_bind()) "
        "cannot render: acknowledge it with that reason.",
    ),
    "squash-changed-schema": (
        "The squash's baseline does not build the schema the revisions it replaces "
        "built: new databases would differ from deployed ones.",
        "Squash again with `migration-squash REV` on a clean checkout (with "
        "`--postgresql` for enum types and comments), or fix the baseline by hand.",
    ),
    "edited-revision": (
        "The ops of a revision that existed on the base changed: databases already "
        "past it never run the change, so they drift from new ones.",
        "Restore the file and make the change in a new revision; acknowledge only "
        "when no database has run it yet.",
    ),
}


@dataclass
class RevisionReview:
    """Everything the report says about one revision."""

    source: RevisionSource
    path: str
    status: str
    database: str = histories.DEFAULT_DATABASE  # the history it belongs to
    upgrade_sql: dict[str, Rendered] = field(default_factory=dict)
    downgrade_sql: dict[str, Rendered] = field(default_factory=dict)
    findings: list[lint.Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    measured: dict[str, trace.RevisionTrace] = field(default_factory=dict)
    # Tables that earlier revisions of the branch create: new and empty, so no
    # lock on them blocks anyone.
    new_tables: frozenset[str] = frozenset()


@dataclass
class TraceOptions:
    """``--trace`` and its settings."""

    rows: int = 10_000
    max_lock_ms: float = 1000.0
    servers: dict[str, sa.URL | None] = field(default_factory=dict)


@dataclass
class HistoryReview:
    """One database's history: its graph, the revisions reviewed in it and their
    traces. The revision files read (``current``, ``base_history``) and the ones
    changed since the base (``changed``) are what the checks start from."""

    database: histories.Database
    current: History
    base_history: History
    changed: dict[Path, str]
    revisions: list[RevisionReview] = field(default_factory=list)
    graph_findings: list[lint.Finding] = field(default_factory=list)
    traces: dict[str, trace.DatabaseTrace] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The database: ``default``, or the bind's name."""
        return self.database.name

    @property
    def heads(self) -> list[str]:
        """The history's heads in the working tree."""
        return self.current.heads()

    @property
    def base_heads(self) -> list[str]:
        """The history's heads on the base."""
        return self.base_history.heads()

    def shown(self) -> bool:
        """Whether the report shows this history: the default one always, another
        when the branch changed one of its revisions or it has a graph finding."""
        return self.database.is_default or bool(self.revisions or self.graph_findings)


@dataclass
class Review:
    """The review of every revision changed since a base, in each history."""

    base: str | None
    merge_base: str | None
    histories: list[HistoryReview] = field(default_factory=list)
    squash: squash_review.BranchSquash | None = None

    @property
    def default(self) -> HistoryReview:
        """The default database's history."""
        return self.histories[0]

    @property
    def heads(self) -> list[str]:
        """The default history's heads."""
        return self.default.heads

    @property
    def base_heads(self) -> list[str]:
        """The default history's heads on the base."""
        return self.default.base_heads

    @property
    def revisions(self) -> list[RevisionReview]:
        """Every reviewed revision, the default history's first."""
        return [item for history in self.histories for item in history.revisions]

    @property
    def graph_findings(self) -> list[lint.Finding]:
        """Every history's graph findings."""
        return [item for history in self.histories for item in history.graph_findings]

    def traced(self) -> bool:
        """Whether any revision was traced."""
        return any(history.traces for history in self.histories)

    def findings(self) -> list[lint.Finding]:
        """Every finding, graph and revisions."""
        return self.graph_findings + [
            item for revision in self.revisions for item in revision.findings
        ]

    def unacknowledged(self) -> list[lint.Finding]:
        """The findings without an acknowledgement: any of them fails the review."""
        return [item for item in self.findings() if item.acknowledged is None]


def graph_finding(rule: str, revision: str, detail: str) -> lint.Finding:
    """A graph check's finding."""
    why, instead = GRAPH_RULES[rule]
    return lint.Finding(
        rule=rule,
        revision=revision,
        why=f"{why} {detail}".strip(),
        instead=instead,
        source="graph",
    )


def relative(path: Path, root: Path) -> str:
    """A path relative to the checkout, with forward slashes."""
    return path.resolve().relative_to(root.resolve()).as_posix()


def review(
    config_path: Path,
    base: str | None = None,
    everything: bool = False,
    tracing: TraceOptions | None = None,
) -> Review:
    """Review the revisions changed since ``base`` (or every revision) in each
    database's history; with ``tracing``, run them on throw-away databases too."""
    config_path = config_path.resolve()
    if not config_path.is_file():
        raise gitrepo.ReviewInputError(f"no Alembic config at {config_path}")
    databases = histories.databases(config_path)
    if everything:
        root = config_path.parent
        result = Review(None, None)
    else:
        root = gitrepo.checkout_root(config_path.parent)
        base = gitrepo.resolve_base(root, base)
        merge_base = gitrepo.git(root, "merge-base", base, "HEAD").strip()
        result = Review(base, merge_base)
    result.histories = [read_history(database, root, result) for database in databases]
    for history in result.histories:
        others = {
            other.name: other.current.ids()
            for other in result.histories
            if other is not history
        }
        history.graph_findings += graph_findings(
            history.current, history.base_history, history.changed, root, others
        )
    shared_id_findings(result.histories)
    if not everything:
        check_squash(result, config_path, root, tracing)
    for history in result.histories:
        history.revisions = review_revisions(config_path, history, root)
        if tracing is not None and history.revisions:
            add_traces(config_path, history, tracing)
    # Acknowledgements of what only a trace on a server finds match nothing else.
    on_servers = any(
        name != "sqlite" for history in result.histories for name in history.traces
    )
    unchecked = set() if on_servers else set(trace_findings.TRACE_RULES)
    for item in result.revisions:
        item.notes += acknowledgement_notes(item.source, unchecked)
    return result


def read_history(
    database: histories.Database, root: Path, result: Review
) -> HistoryReview:
    """One database's revision files: in the working tree, on the base, and the
    ones changed since it (every one, without a base: ``--all``)."""
    current = History.read(*database.folders)
    if result.base is None:
        changed = dict.fromkeys(current.sources, "in history")
        return HistoryReview(database, current, History({}), changed)
    folders = [relative(folder, root) for folder in database.folders]
    history = HistoryReview(
        database, current, history_at(root, result.base, folders), {}
    )
    history.changed = changed_revisions(root, result.merge_base, folders, history)
    return history


def review_revisions(
    config_path: Path, history: HistoryReview, root: Path
) -> list[RevisionReview]:
    """Review a history's changed revisions, in graph order."""
    current, changed = history.current, history.changed
    order = {rev: index for index, rev in enumerate(current.order())}
    new_tables = set()  # created by a revision the branch adds: new and empty
    reviewed = []
    for path in sorted(
        changed,
        key=lambda p: order.get(current.sources[p].revision, len(order)),
    ):
        source = current.sources[path]
        reviewed.append(
            review_revision(
                config_path,
                source,
                relative(path, root),
                changed[path],
                frozenset(new_tables),
                database=history.database,
            )
        )
        if changed[path] == "added":
            new_tables |= {
                op.table
                for op in source.upgrade_ops()
                if op.name == "create_table" and op.table
            }
    return reviewed


def check_squash(
    result: Review, config_path: Path, root: Path, tracing: TraceOptions | None
) -> None:
    """A squash of the default history on the branch: recognised as one, and the
    schemas it builds compared. (Other histories' squashes are not recognised:
    they read as removed revisions and a reused id.)"""
    history = result.default
    recognise_squash(result, history, root)
    if result.squash is None:
        return
    # The schema check runs on the traced databases, else on SQLite and the
    # servers of TEST_POSTGRESQL_URL and TEST_MYSQL_URL.
    servers = tracing.servers if tracing else trace.server_urls(None, None)
    folder = relative(history.database.folders[0], root)
    squash_review.compare_schemas(
        result.squash, config_path, root, result.merge_base, folder, servers
    )
    for database, why in result.squash.differences.items():
        detail = f"On {database}: {why}."
        history.graph_findings.append(
            graph_finding(
                "squash-changed-schema", result.squash.baseline.revision, detail
            )
        )


def add_traces(config_path: Path, history: HistoryReview, tracing: TraceOptions):
    """Run a history's reviewed revisions on throw-away databases of their own (with
    the history's config and version table), and add what was measured and found
    to each revision."""
    heads = history.heads
    head = heads[0] if len(heads) == 1 else None
    sources = [item.source for item in history.revisions]
    database = history.database
    traced = trace.TracedHistory(database.section, database.version_table)
    history.traces = trace.trace(
        config_path, sources, tracing.rows, tracing.servers, head, traced
    )
    for item in history.revisions:
        rev = item.source.revision
        item.measured = {
            backend: database_trace.revisions[rev]
            for backend, database_trace in history.traces.items()
            if rev in database_trace.revisions
        }
        found = trace_findings.findings(
            history.traces, item.source, tracing.max_lock_ms, item.new_tables
        )
        item.findings += acknowledge(item.source, found)


def recognise_squash(result: Review, history: HistoryReview, root: Path) -> None:
    """A squash on the branch is reported as one (``result.squash``), not as removed
    revisions and a reused id; its baseline is not reviewed as a new revision."""
    current, base, changed = history.current, history.base_history, history.changed
    found = squash_review.find_squash(current, base, changed)
    if found is None:
        return
    path, baseline, replaced_ids = found
    removed = {
        item.revision
        for item in history.graph_findings
        if item.rule == "removed-revision"
    }
    names = {
        source.path.name: source.revision
        for source in base.sources.values()
        if source.revision in replaced_ids and source.path.name in removed
    }
    kept = []
    for item in history.graph_findings:
        if item.rule == "removed-revision" and item.revision in names:
            continue
        reused = item.rule in ("duplicate-revision-id", "edited-revision")
        if reused and item.revision == baseline.revision and "Files:" not in item.why:
            continue
        kept.append(item)
    history.graph_findings = kept
    messages = {source.revision: source.message for source in base.sources.values()}
    result.squash = squash_review.BranchSquash(
        baseline,
        relative(path, root),
        [(rev, messages[rev]) for rev in base.order() if rev in replaced_ids],
    )
    del changed[path]


def history_at(root: Path, commit: str, folders: list[str]) -> History:
    """The revision files of a history's ``folders`` as they are at ``commit``."""
    with tempfile.TemporaryDirectory(prefix="migration-review-") as directory:
        exported = Path(directory)
        for folder in folders:
            gitrepo.export_folder(root, commit, folder, exported)
        history = History.read(*(exported / folder for folder in folders))
        for source in history.sources.values():
            source.path = source.path.relative_to(exported)
        return history


def changed_revisions(
    root: Path, merge_base: str, folders: list[str], history: HistoryReview
) -> dict[Path, str]:
    """The revision files to review, by absolute path, with what happened to them.

    A file whose code is unchanged (only comments or formatting differ, such as a new
    acknowledgement) is reviewed but is not an edited revision.
    """
    changed = {}
    for item in gitrepo.changed_files(root, merge_base, folders):
        path = root / item.path
        if item.status == "D":
            history.graph_findings.append(
                graph_finding("removed-revision", item.path.name, f"({item.path})")
            )
            continue
        if item.status == "M":
            before = ast.parse(gitrepo.file_at(root, merge_base, item.path))
            after = ast.parse(path.read_text(encoding="utf-8"))
            code_changed = ast.dump(before) != ast.dump(after)
            changed[path] = "modified" if code_changed else "comments changed"
        else:
            changed[path] = "added"
    return changed


def graph_findings(
    current: History,
    base: History,
    changed: dict[Path, str],
    root: Path,
    others: dict[str, set[str]] | None = None,
) -> list[lint.Finding]:
    """One head, no id declared twice, each new revision on the base's head, every
    parent in the same history (``others``: the ids of each other database's)."""
    found = []
    heads = current.heads()
    if len(heads) != 1 and current.sources:
        detail = f"Heads: {heads}." if heads else "No head: the graph has a cycle."
        found.append(graph_finding("one-head", ", ".join(heads), detail))
    for rev, paths in sorted(current.duplicates().items()):
        names = ", ".join(relative(path, root) for path in paths)
        found.append(graph_finding("duplicate-revision-id", rev, f"Files: {names}."))
    base_paths = {s.revision: s.path.name for s in base.sources.values()}
    base_heads = set(base.heads())
    known = current.ids()
    for path in changed:
        source = current.sources[path]
        rev = source.revision or path.name
        if changed[path] == "added" and base_paths.get(rev, path.name) != path.name:
            detail = f"{rev} is already {base_paths[rev]} on the base."
            found.append(graph_finding("duplicate-revision-id", rev, detail))
        is_new = changed[path] == "added" and rev not in base_paths
        for parent in parents(source):
            if parent not in known:
                detail = missing_parent_detail(parent, others or {})
                found.append(graph_finding("missing-parent", rev, detail))
            elif is_new and parent in base_paths and parent not in base_heads:
                detail = (
                    f"It revises {parent}; the base's head is {sorted(base_heads)}."
                )
                found.append(graph_finding("stale-parent", rev, detail))
        if changed[path] == "modified":
            item = graph_finding("edited-revision", rev, "")
            item.acknowledged = source.acknowledgement_for(
                {"edited-revision"}, None, None
            )
            found.append(item)
    return found


def missing_parent_detail(parent: str, others: dict[str, set[str]]) -> str:
    """The id a revision revises and no file of its history declares, and the
    other database whose history has it, if one does."""
    elsewhere = [name for name, ids in others.items() if parent in ids]
    if not elsewhere:
        return f"({parent})"
    return (
        f"({parent} is a revision of the {elsewhere[0]} database's history: each "
        "database has a history of its own, and a revision revises one of its own "
        "history's.)"
    )


def shared_id_findings(reviewed: list[HistoryReview]) -> None:
    """A revision id in two databases' histories: ``alembic downgrade <id>`` acts
    on every database whose history has it. Reported on each revision the branch
    adds (with ``--all``, on the later history's)."""
    for index, history in enumerate(reviewed):
        for path, status in history.changed.items():
            rev = history.current.sources[path].revision
            candidates = reviewed[:index] if status == "in history" else reviewed
            for other in candidates:
                if other is history or rev not in other.current.ids():
                    continue
                detail = (
                    f"{rev} is also a revision of the {other.name} database's "
                    f"history: `alembic upgrade {rev}` acts on both databases."
                )
                history.graph_findings.append(
                    graph_finding("duplicate-revision-id", rev, detail)
                )


def review_revision(
    config_path: Path,
    source: RevisionSource,
    path: str,
    status: str,
    new_tables: frozenset[str] = frozenset(),
    *,
    database: histories.Database,
) -> RevisionReview:
    """Lint, render (with its history's config) and squawk one revision of
    ``database``'s history; ``new_tables``: the tables earlier revisions of the
    branch created."""
    item = RevisionReview(source, path, status, database.name, new_tables=new_tables)
    rev = source.revision
    parent_ids = parents(source)
    previous = parent_ids[0] if parent_ids else "base"
    if len(parent_ids) > 1:
        item.notes.append(f"A merge revision: SQL rendered from {previous} only.")
    where = {"section": database.section, "url_variable": database.url_variable}
    for dialect in DIALECT_URLS:
        item.upgrade_sql[dialect] = render(
            config_path, source.path, dialect, f"{previous}:{rev}", **where
        )
        item.downgrade_sql[dialect] = render(
            config_path,
            source.path,
            dialect,
            f"{rev}:{previous}",
            downgrade=True,
            **where,
        )
    findings = lint.lint(source, new_tables) + render_findings(source, item)
    postgresql = item.upgrade_sql["postgresql"]
    if postgresql.error is None:
        statements = own_statements(postgresql.statements, rev)
        found = squawk.violations(statements, Path(path).name)
        findings = squawk.merge(found, statements, source, findings, new_tables)
    else:
        item.notes.append("squawk not run: the PostgreSQL SQL did not render.")
    item.findings = acknowledge(source, findings)
    return item


def own_statements(statements: list, rev: str) -> list:
    """The statements of the revision ``rev`` itself, with the script's header: a
    merge's SQL, rendered from its first parent, runs the other branch's revisions
    first (each in its own transaction), whose findings are theirs; each branch's
    revision is reviewed on its own."""
    texts = [statement.text.strip() for statement in statements]
    starts = [index for index, text in enumerate(texts) if text == "BEGIN;"]
    marker = next(
        (
            index
            for index, text in enumerate(texts)
            if text.startswith("-- Running upgrade") and text.endswith(f"-> {rev}")
        ),
        None,
    )
    begins = [index for index in starts if marker is not None and index < marker]
    if not begins:
        return statements
    return statements[: starts[0]] + statements[begins[-1] :]


def render_findings(
    source: RevisionSource, item: RevisionReview
) -> list[tuple[lint.Finding, None]]:
    """A revision whose upgrade or downgrade SQL does not render for PostgreSQL or
    MySQL. (SQLite is left out: batch mode cannot render a table copy offline
    without ``copy_from``.)"""
    failures = [
        f"{direction} on {dialect}: {rendered.error}"
        for direction, rendered_sql in (
            ("upgrade", item.upgrade_sql),
            ("downgrade", item.downgrade_sql),
        )
        for dialect, rendered in rendered_sql.items()
        if dialect != "sqlite" and rendered.error is not None
    ]
    if not failures:
        return []
    rule = GRAPH_RULES["render-failed"]
    finding = lint.Finding(
        rule="render-failed",
        revision=source.revision or source.path.name,
        why=f"{rule[0]} ({'; '.join(failures)})",
        instead=rule[1],
    )
    return [(finding, None)]


def acknowledge(
    source: RevisionSource, findings: list[tuple[lint.Finding, Op | None]]
) -> list[lint.Finding]:
    """Attach to each finding the comment acknowledging it, if any.

    An empty downgrade is acknowledged on or above ``def downgrade`` or in its body.
    """
    downgrade = source.function("downgrade")
    for finding, op in findings:
        rules = {finding.rule, *finding.also}
        if finding.rule == "empty-downgrade" and downgrade is not None:
            finding.acknowledged = source.acknowledgement_for(
                rules, None, downgrade.lineno, downgrade.end_lineno
            )
        else:
            finding.acknowledged = source.acknowledgement_for(rules, op, finding.line)
    return [finding for finding, _ in findings]


def acknowledgement_notes(
    source: RevisionSource, unchecked: set[str] = frozenset()
) -> list[str]:
    """Acknowledgements that match no finding (but those of the ``unchecked``
    rules, which this review could not find), and ones without a reason."""
    notes = [
        f"Line {ack.line}: `review: allow {', '.join(ack.rules)}` matches no finding."
        for ack in source.acknowledgements
        if not ack.used and not set(ack.rules) <= unchecked
    ]
    notes += [
        f"Line {line}: a `review:` comment without a reason "
        "(`# review: allow <rule> - <reason>`) is ignored."
        for line in source.unreadable_acknowledgements
    ]
    return notes


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="migration-review",
        description="Review the Alembic revisions added or changed since a git base.",
    )
    parser.add_argument(
        "--base",
        help="git ref to compare with (default: origin/main, falling back to main)",
    )
    parser.add_argument(
        "--all",
        action="store_true",
        help="review every revision of the history, not only the changed ones",
    )
    parser.add_argument("--format", choices=["markdown", "json"], default="markdown")
    parser.add_argument(
        "-c", "--config", default="alembic.ini", help="Alembic config file"
    )
    parser.add_argument("-o", "--output", help="write the report to this file too")
    parser.add_argument(
        "--trace",
        action="store_true",
        help="run the revisions on throw-away databases (SQLite, and the servers "
        "given) and report the locks, rewrites and time of every statement",
    )
    parser.add_argument(
        "--rows",
        type=positive_int,
        default=10_000,
        help="rows generated per table before tracing (default: 10000)",
    )
    parser.add_argument(
        "--max-lock-ms",
        type=non_negative,
        default=1000.0,
        help="a lock that blocks writes held longer is a finding (default: 1000)",
    )
    parser.add_argument(
        "--postgresql",
        metavar="URL",
        help="trace on this PostgreSQL server (default: $TEST_POSTGRESQL_URL)",
    )
    parser.add_argument(
        "--mysql",
        metavar="URL",
        help="trace on this MariaDB/MySQL server (default: $TEST_MYSQL_URL)",
    )
    return parser.parse_args(argv)


def non_negative(text: str) -> float:
    """Milliseconds, 0 or more, for ``--max-lock-ms``."""
    try:
        number = float(text)
    except ValueError:
        number = -1.0
    if not number >= 0:  # also NaN
        raise argparse.ArgumentTypeError(f"expected milliseconds, 0 or more: {text!r}")
    return number


def positive_int(text: str) -> int:
    """A whole number above zero, for ``--rows``."""
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number above 0: {text!r}")
    return number


def main(argv: list[str] | None = None) -> int:
    """Run the review and print the report; the exit status says if it is clean."""
    arguments = parse_arguments(argv)
    tracing = None
    try:
        if arguments.trace:
            servers = trace.server_urls(arguments.postgresql, arguments.mysql)
            tracing = TraceOptions(arguments.rows, arguments.max_lock_ms, servers)
        result = review(Path(arguments.config), arguments.base, arguments.all, tracing)
    except (
        gitrepo.ReviewInputError,
        squawk.SquawkError,
        trace.TraceError,
        SyntaxError,
    ) as error:
        print(f"migration-review: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        message = "interrupted"
        if tracing is not None:
            message += "; the databases the trace created are dropped"
        print(f"migration-review: {message}", file=sys.stderr)
        return 130
    text = (
        report.as_json(result)
        if arguments.format == "json"
        else report.as_markdown(result)
    )
    sys.stdout.write(text)
    if arguments.output:
        Path(arguments.output).write_text(text, encoding="utf-8")
    return 1 if result.unacknowledged() else 0


if __name__ == "__main__":
    sys.exit(main())
