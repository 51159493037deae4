"""Adding users table

Revision ID: ef55ddbae804
Revises: f800a65a1a3a
Create Date: 2026-11-25 01:04:31.833264+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# Revision identifiers, used by Alembic.
revision: str = "ef55ddbae804"
down_revision: str | Sequence[str] | None = "f800a65a1a3a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Deploy phase: expand. The running release keeps working once it is applied: it runs
# before the new release starts (alembic -x phase=expand upgrade head).
phase: str = "expand"


def upgrade() -> None:
    """Create ``users``, with unique usernames and emails."""
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=80), nullable=False),
        sa.Column("email", sa.String(length=120), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )


def downgrade() -> None:
    """Drop ``users``."""
    op.drop_table("users")
