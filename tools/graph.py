"""The revision graph, read from the files' ``revision`` and ``down_revision``.

Read with ``ast`` rather than through Alembic's ScriptDirectory, so a broken history
(an id used twice, a missing parent, two heads) is described rather than refused.
"""

from dataclasses import dataclass
from pathlib import Path

from tools.revision_source import RevisionSource


def parents(source: RevisionSource) -> tuple[str, ...]:
    """The ids a revision revises (none for a first revision)."""
    down = source.down_revision
    if down is None:
        return ()
    return (down,) if isinstance(down, str) else tuple(down)


@dataclass
class History:
    """Every revision file of one tree, by path, and the graph they form."""

    sources: dict[Path, RevisionSource]

    @classmethod
    def read(cls, *folders: Path) -> "History":
        """Parse every revision file in a history's folders (a missing folder holds
        none)."""
        files = [
            path
            for folder in folders
            if folder.is_dir()
            for path in sorted(folder.glob("*.py"))
        ]
        return cls({path: RevisionSource.parse(path) for path in files})

    def ids(self) -> set[str]:
        """Every revision id."""
        return {s.revision for s in self.sources.values() if s.revision}

    def heads(self) -> list[str]:
        """The revisions no other revision revises, sorted."""
        revised = {parent for s in self.sources.values() for parent in parents(s)}
        return sorted(self.ids() - revised)

    def duplicates(self) -> dict[str, list[Path]]:
        """Revision ids declared by more than one file."""
        paths: dict[str, list[Path]] = {}
        for path, source in self.sources.items():
            if source.revision:
                paths.setdefault(source.revision, []).append(path)
        return {rev: found for rev, found in paths.items() if len(found) > 1}

    def order(self) -> list[str]:
        """Revision ids from the first to the heads (parents before children)."""
        children: dict[str, list[str]] = {}
        by_id = {s.revision: s for s in self.sources.values() if s.revision}
        for rev, source in sorted(by_id.items()):
            for parent in parents(source):
                children.setdefault(parent, []).append(rev)
        waiting = {
            rev: len([p for p in parents(s) if p in by_id]) for rev, s in by_id.items()
        }
        ready = sorted(rev for rev, count in waiting.items() if count == 0)
        ordered = []
        while ready:
            rev = ready.pop(0)
            ordered.append(rev)
            for child in sorted(children.get(rev, [])):
                waiting[child] -= 1
                if waiting[child] == 0:
                    ready.append(child)
        return ordered + sorted(set(by_id) - set(ordered))
