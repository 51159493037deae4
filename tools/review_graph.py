"""``migration-review``'s checks on a history as a whole: one head, each new
revision on the base's head, no id declared twice (in one history or two), every
parent present, no revision file removed or edited."""

import ast
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from tools import gitrepo, lint
from tools.graph import History, parents

if TYPE_CHECKING:
    from tools.review_results import HistoryReview

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
    root: Path, merge_base: str, folders: list[str], history: "HistoryReview"
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


def shared_id_findings(reviewed: list["HistoryReview"]) -> None:
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
