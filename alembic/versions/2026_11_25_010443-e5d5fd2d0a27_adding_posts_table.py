"""Adding posts table

Revision ID: e5d5fd2d0a27
Revises: ef55ddbae804
Create Date: 2026-11-25 01:04:43.780072+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# Revision identifiers, used by Alembic.
revision: str = "e5d5fd2d0a27"
down_revision: str | Sequence[str] | None = "ef55ddbae804"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Deploy phase: expand. The running release keeps working once it is applied: it runs
# before the new release starts (alembic -x phase=expand upgrade head).
phase: str = "expand"


def upgrade() -> None:
    """Create ``posts``, each row owned by a user, indexed by that user."""
    # review: allow blocking-lock - users was new and small when this shipped
    op.create_table(
        "posts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_posts_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_posts")),
    )
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_posts_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    """Drop ``posts``, and its index with it."""
    # Autogenerate dropped the index first, which MySQL refuses while the foreign key
    # needs it; dropping the table drops its indexes on every database.
    op.drop_table("posts")
