"""``migration-review`` on a revision's deploy phase (``flask_alembic_kit/phases.py``):
the phase the file declares (``phase``, and ``phase_reason`` when a developer
overrode it) beside the phase its ops have, classified by the kit's own rules from
the ops the file writes (``phase_ops.py``); and the findings about it. An op on a
table the branch itself creates breaks nothing that runs: the running release
does not map that table.

The findings are about the revisions a branch adds: one already on the base may
have run in production, and can no longer be split or relabelled. They are not
acknowledged by a ``# review: allow`` comment: ``phase_reason`` is the override,
and the report shows it.
"""

from dataclasses import dataclass

from flask_alembic_kit.phases import (
    CONTRACT,
    EXPAND,
    MERGE,
    MIXED,
    PHASES,
    Classification,
    Created,
    adds,
    breaks,
)
from tools import lint
from tools.phase_ops import alembic_ops
from tools.revision_ast import module_assignments
from tools.revision_source import RevisionSource


@dataclass
class PhaseReview:
    """A revision's declared phase, the reason given for it, and what its ops say."""

    declared: str | None  # the file's ``phase``, as written; None: it has none
    reason: str  # its ``phase_reason``, "" when it gives none
    found: Classification
    line: int | None = None  # the line of ``phase = ...``

    @property
    def ops_phase(self) -> str:
        """The phase the ops have."""
        return self.found.phase

    @property
    def effective(self) -> str:
        """The phase deploys go by: the declared one, ``mixed`` when it is missing
        or not a phase (as ``phases.declared_phase`` takes it)."""
        return self.declared if self.declared in PHASES else MIXED

    def ops_reasons(self) -> list[str]:
        """What makes the ops' phase: what they add (expand), break (contract), or
        both (mixed)."""
        if self.ops_phase == EXPAND:
            return self.found.adds
        if self.ops_phase == CONTRACT:
            return self.found.breaks
        return self.found.breaks + self.found.adds

    def ops_say(self) -> str:
        """``the ops say contract: drops column users.bio``."""
        reasons = "; ".join(self.ops_reasons())
        return f"the ops say {self.ops_phase}" + (f": {reasons}" if reasons else "")

    def text(self) -> str:
        """The report's line: ``Deploy phase: expand (overridden: <reason>; the ops
        say contract: drops column users.bio)``."""
        if self.declared not in PHASES:
            written = "none declared" if self.declared is None else repr(self.declared)
            return f"Deploy phase: {written}, taken as mixed; {self.ops_say()}"
        if self.reason and self.declared != self.ops_phase:
            return (
                f"Deploy phase: {self.declared} (overridden: {self.reason}; "
                f"{self.ops_say()})"
            )
        if self.reason:
            return f"Deploy phase: {self.declared} ({self.reason}; {self.ops_say()})"
        if self.declared == self.ops_phase:
            return f"Deploy phase: {self.declared} ({self.ops_say()})"
        return f"Deploy phase: {self.declared}, but {self.ops_say()}"

    def as_dict(self) -> dict:
        """The JSON form."""
        return {
            "declared": self.declared,
            "reason": self.reason or None,
            "ops": self.ops_phase,
            "breaks": self.found.breaks,
            "adds": self.found.adds,
        }


def phase_of(
    source: RevisionSource, new_tables: frozenset[str] = frozenset()
) -> PhaseReview:
    """What a revision file declares about its phase, and what its ops say;
    ``new_tables``: the tables earlier revisions of the branch create."""
    values = module_assignments(source.tree)
    declared = values.get("phase") if "phase" in values else None
    if "phase" in values and not isinstance(declared, str):
        declared = "(not a literal)"
    reason = values.get("phase_reason")
    return PhaseReview(
        declared=declared,
        reason=reason.strip() if isinstance(reason, str) else "",
        found=classified(source, new_tables),
        line=assignment_line(source, "phase"),
    )


def classified(source: RevisionSource, new_tables: frozenset[str]) -> Classification:
    """The ops' phase by the kit's rules (``phases.breaks``, ``phases.adds``), but
    that an op on a table the branch creates (earlier, or in this revision) breaks
    nothing: the running release does not map it."""
    found = Classification()
    operations = list(alembic_ops(source))
    created = Created.by(operations)
    created.tables |= new_tables
    for operation in operations:
        if getattr(operation, "table_name", None) not in created.tables:
            found.breaks += breaks(operation, created)
        found.adds += adds(operation)
    return found


def assignment_line(source: RevisionSource, name: str) -> int | None:
    """The line of the module-level assignment to ``name``, if there is one."""
    for node in source.tree.body:
        targets = getattr(node, "targets", None) or [getattr(node, "target", None)]
        if any(getattr(target, "id", None) == name for target in targets):
            return node.lineno
    return None


def phase_findings(
    source: RevisionSource, phase: PhaseReview, status: str
) -> list[lint.Finding]:
    """The phase findings of a revision the branch adds: no phase, a mixed one, an
    expand one whose ops break the running release; none with ``phase_reason``."""
    if status != "added":
        return []
    if phase.declared not in PHASES:
        why = (
            "It declares no `phase`."
            if phase.declared is None
            else f"Its `phase = {phase.declared!r}` is not expand, contract, mixed "
            "or merge."
        )
        detail = f"{why} As written, {phase.ops_say()}."
        return [finding("phase-missing", source, phase, detail)]
    if phase.reason:
        return []
    found = []
    if phase.ops_phase == MIXED:
        found.append(finding("mixed-phase", source, phase, f"Here {phase.ops_say()}."))
    if phase.declared in (EXPAND, MERGE) and phase.ops_phase != EXPAND:
        detail = f"It declares {phase.declared}; {phase.ops_say()}."
        found.append(finding("phase-mismatch", source, phase, detail))
    return found


def finding(
    rule: str, source: RevisionSource, phase: PhaseReview, detail: str
) -> lint.Finding:
    """A phase finding, on the ``phase`` line (or the file)."""
    item = lint.finding(rule, source, None, line=phase.line)
    item.why = f"{item.why} {detail}"
    item.op = "phase" if phase.line else ""
    return item


def phase_notes(phase: PhaseReview) -> list[str]:
    """A declared contract or mixed revision whose ops say expand: no finding (the
    expand phase waits for it, which is safe), but it could run earlier."""
    if phase.reason or phase.declared not in (CONTRACT, MIXED):
        return []
    if phase.ops_phase != EXPAND:
        return []
    return [
        f"Declared {phase.declared}, but its ops say expand: "
        "`alembic -x phase=expand` holds it back; declare it expand (or give "
        "`phase_reason`) if the running release survives it."
    ]
