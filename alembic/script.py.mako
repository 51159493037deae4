"""${message}

Revision ID: ${up_revision}
% if down_revision:
Revises: ${down_revision | comma,n}
% else:
Revises: none, this is the first revision
% endif
Create Date: ${create_date}
% if squashed:

Written by migration-squash on ${squashed_on}. It replaces these revisions:
% for line in replaced:
- ${line}
% endfor

A database at one of them upgrades to ${up_revision} with a release that still has
them first; one at ${up_revision} or later needs nothing.
% endif
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op
${imports if imports else ""}
# Revision identifiers, used by Alembic.
revision: str = ${repr(up_revision)}
down_revision: str | Sequence[str] | None = ${repr(down_revision)}
branch_labels: str | Sequence[str] | None = ${repr(branch_labels)}
depends_on: str | Sequence[str] | None = ${repr(depends_on)}

<%
    from flask_alembic_kit.phase_comments import phase_comment
    from flask_alembic_kit.phases import MERGE, MIXED

    # alembic revision --autogenerate hands in the phase its operations have;
    # alembic merge writes a merge; a revision written by hand starts as mixed.
    found = phase_classification or None
    merge = not found and isinstance(down_revision, (tuple, list)) \
        and len(down_revision) > 1
    phase = found.phase if found else (MERGE if merge else MIXED)
%>\
${phase_comment(found, merge)}
phase: str = ${repr(phase)}
% if squashed:

# The revisions squashed into this baseline: env.py names it to a database at one.
squashed: tuple[str, ...] = ${repr(tuple(squashed))}
% endif


<%
    import textwrap

    # What the revision does, for the docstrings: its message.
    what = (message or "this revision").rstrip(".")
    undo = "Undo: " + what
    if squashed:
        what = "Create the schema as it is at " + up_revision
        undo = "Drop the schema"

    def docstring(text):
        """A function's docstring, wrapped to fit the line length."""
        lines = textwrap.wrap(text, 78)
        if len(lines) == 1:
            return '"""' + lines[0] + '"""'
        return '"""' + "\n    ".join(lines) + '\n    """'

    # Batch mode names the default schema on every table: noise in a review.
    def tidy(ops):
        return ops.replace(", schema=None)", ")") if ops else "pass"
%>
def upgrade() -> None:
    ${docstring(what + ".")}
    ${tidy(upgrades)}


def downgrade() -> None:
    ${docstring(undo + ".")}
    ${tidy(downgrades)}
