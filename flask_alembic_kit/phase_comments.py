"""The comment ``alembic revision`` writes above a revision's ``phase``
(``alembic/script.py.mako``): what the phase means for the deploy, and the
operations that made it so (``phases.py``)."""

import textwrap

from flask_alembic_kit.phases import CONTRACT, EXPAND, MIXED, Classification

# What each phase means for the deploy, at the top of the comment
# ``alembic revision --autogenerate`` writes above ``phase``.
MEANINGS = {
    EXPAND: (
        "Deploy phase: expand. The running release keeps working once it is "
        "applied: it runs before the new release starts "
        "(alembic -x phase=expand upgrade head)."
    ),
    CONTRACT: (
        "Deploy phase: contract. The running release breaks once it is applied: "
        "it runs once every instance runs this release (alembic upgrade head)."
    ),
    MIXED: (
        "Deploy phase: mixed. The running release breaks once it is applied, and "
        "this release needs what it adds: no release serves across it. Split it "
        "into an expand revision and a contract one (docs/deploys.md)."
    ),
}

# Above ``phase`` in a revision written by hand (``alembic revision -m``), whose
# operations are not known yet: mixed, the safe reading, until its author says.
BY_HAND = (
    'Deploy phase: set "expand" when the running release keeps working once it is '
    'applied, "contract" when it takes away what the running release uses '
    "(docs/deploys.md); migration-review checks it. Until then "
    "it is mixed: the expand phase holds it back, and no release serves across it."
)
MERGED = (
    "Deploy phase: merge. It changes nothing: the expand phase applies it once "
    "what it joins is applied, and a release serves with or without it."
)


def phase_comment(found: Classification | None, merge: bool = False) -> str:
    """The comment above a revision's ``phase``: what the phase means, and the
    operations that made it so; a revision written by hand has no operations yet,
    a merge none at all."""
    if merge:
        return comment_lines(MERGED, [])
    if found is None:
        return comment_lines(BY_HAND, [])
    reasons = found.breaks + (found.adds if found.phase == MIXED else [])
    return comment_lines(MEANINGS[found.phase], reasons)


def comment_lines(text: str, reasons: list[str]) -> str:
    """``text`` as wrapped comment lines, then one ``- reason`` line each."""
    lines = textwrap.wrap(text, 86)
    for reason in reasons:
        lines += textwrap.wrap(reason, 86, initial_indent="- ", subsequent_indent="  ")
    return "\n".join(f"# {line}" for line in lines)
