"""What ``migration-review`` found, as the reports read it (``report.py``,
``report_json.py``): each database's history with its reviewed revisions, graph
findings and traces, and the review of them all."""

from dataclasses import dataclass, field
from pathlib import Path

from tools import histories, lint, squash_review, trace
from tools.graph import History
from tools.review_revision import RevisionReview


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
    def bind(self) -> str | None:
        """The Flask-SQLAlchemy bind of the database (``None``: the default)."""
        return None if self.database.is_default else self.database.name

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
