"""``migration-review`` on one revision: its SQL on each database (rendered
offline), the safety linter's, squawk's and the renderer's findings, and the
comments that acknowledge them."""

from dataclasses import dataclass, field
from pathlib import Path

from tools import histories, lint, squawk, trace
from tools.graph import parents
from tools.render import DIALECT_URLS, Rendered, render
from tools.review_graph import GRAPH_RULES
from tools.review_phase import PhaseReview, phase_findings, phase_notes, phase_of
from tools.revision_source import Op, RevisionSource


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
    phase: PhaseReview | None = None  # declared, and what the ops say


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
    item.phase = phase_of(source, new_tables)
    item.findings += phase_findings(source, item.phase, status)
    item.notes += phase_notes(item.phase)
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
