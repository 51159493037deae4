"""Initial migration

Revision ID: f800a65a1a3a
Revises: none, this is the first revision
Create Date: 2026-11-25 01:04:29.369551+00:00

The baseline: an empty schema. Made with ``alembic revision -m`` before any model
existed, so every later revision has a parent to build on.
"""

from collections.abc import Sequence

# Revision identifiers, used by Alembic.
revision: str = "f800a65a1a3a"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Deploy phase: expand. The running release keeps working once it is applied: it runs
# before the new release starts (alembic -x phase=expand upgrade head).
phase: str = "expand"


def upgrade() -> None:
    """Nothing to create: the baseline is empty."""


def downgrade() -> None:
    """Nothing to drop: the baseline is empty."""
