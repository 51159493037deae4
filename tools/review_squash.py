"""``migration-review`` on a branch that squashes the default history
(``migration-squash``): the squash reported as one, not as removed revisions and a
reused id, and the schemas the old and the squashed history build compared."""

from pathlib import Path
from typing import TYPE_CHECKING

from tools import squash_review, trace_servers
from tools.review_graph import graph_finding, relative

if TYPE_CHECKING:
    from tools.review import TraceOptions
    from tools.review_results import HistoryReview, Review


def check_squash(
    result: "Review", config_path: Path, root: Path, tracing: "TraceOptions | None"
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
    servers = tracing.servers if tracing else trace_servers.server_urls(None, None)
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


def recognise_squash(result: "Review", history: "HistoryReview", root: Path) -> None:
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
