"""``migration-review``: review the revision files a branch adds or changes.

Each database's history on its own (alembic.ini's sections: the default one, and
one per bind). For each revision, in graph order: its ops, the SQL it runs on each
database (rendered offline with its history's config), the safety linter's and
squawk's findings, and the graph checks of its history (one head, parent is the
base's head, no id reused), gathered in a ``Review`` (``review_results.py``).
Markdown or JSON; exit status 0 when clean, 1 with an unacknowledged finding, 2 on
bad input.
"""

import sys
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from tools import (
    gitrepo,
    histories,
    report,
    report_json,
    squawk,
    trace,
    trace_findings,
    trace_servers,
)
from tools.graph import History
from tools.review_arguments import parse_arguments
from tools.review_graph import (
    changed_revisions,
    graph_findings,
    history_at,
    relative,
    shared_id_findings,
)
from tools.review_results import HistoryReview, Review
from tools.review_revision import (
    RevisionReview,
    acknowledge,
    acknowledgement_notes,
    review_revision,
)
from tools.review_squash import check_squash
from tools.running_release import BaseRelease, expand_phase


@dataclass
class TraceOptions:
    """``--trace`` and its settings."""

    rows: int = 10_000
    max_lock_ms: float = 1000.0
    servers: dict[str, sa.URL | None] = field(default_factory=dict)


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
    # The base's code, which serves while the expand phase runs: --trace checks it.
    with BaseRelease(root, base) as release:
        for history in result.histories:
            history.revisions = review_revisions(config_path, history, root)
            if tracing is not None and history.revisions:
                add_traces(config_path, history, tracing, release if base else None)
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


def add_traces(
    config_path: Path,
    history: HistoryReview,
    tracing: TraceOptions,
    release: BaseRelease | None = None,
):
    """Run a history's reviewed revisions on throw-away databases of their own (with
    the history's config and version table), and add what was measured and found
    to each revision; ``release``: the base's code, whose models are checked after
    each revision of the expand phase."""
    heads = history.heads
    head = heads[0] if len(heads) == 1 else None
    sources = [item.source for item in history.revisions]
    database = history.database
    expanding = expand_phase(sources, [item.phase for item in history.revisions])
    running = release.for_bind(history.bind) if release and expanding else None
    traced = trace.TracedHistory(
        database.section, database.version_table, expanding, running
    )
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


def main(argv: list[str] | None = None) -> int:
    """Run the review and print the report; the exit status says if it is clean."""
    arguments = parse_arguments(argv)
    tracing = None
    try:
        if arguments.trace:
            servers = trace_servers.server_urls(arguments.postgresql, arguments.mysql)
            tracing = TraceOptions(arguments.rows, arguments.max_lock_ms, servers)
        result = review(Path(arguments.config), arguments.base, arguments.all, tracing)
    except (
        gitrepo.ReviewInputError,
        squawk.SquawkError,
        trace_servers.TraceError,
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
        report_json.as_json(result)
        if arguments.format == "json"
        else report.as_markdown(result)
    )
    sys.stdout.write(text)
    if arguments.output:
        Path(arguments.output).write_text(text, encoding="utf-8")
    return 1 if result.unacknowledged() else 0


if __name__ == "__main__":
    sys.exit(main())
