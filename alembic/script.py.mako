"""${message}

Revision ID: ${up_revision}
% if down_revision:
Revises: ${down_revision | comma,n}
% else:
Revises: none, this is the first revision
% endif
Create Date: ${create_date}
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
    import textwrap

    # What the revision does, for the docstrings: its message.
    what = (message or "this revision").rstrip(".")

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
    ${docstring("Undo: " + what + ".")}
    ${tidy(downgrades)}
