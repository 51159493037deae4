"""Adding users display name

Revision ID: bb4b390c7d31
Revises: e5d5fd2d0a27
Create Date: 2026-11-25 01:04:52.034369+00:00

Every user gets a ``display_name``, NOT NULL. Autogenerate wrote a single NOT NULL
``add_column``, which fails on a populated table; it is done in three steps instead:
add the column nullable, backfill it from ``username``, then make it NOT NULL.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# Revision identifiers, used by Alembic.
revision: str = "bb4b390c7d31"
down_revision: str | Sequence[str] | None = "e5d5fd2d0a27"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Deploy phase: mixed. The running release breaks once it is applied, and this release
# needs what it adds: no release serves across it. Split it into an expand revision and
# a contract one (README, Deploys without downtime).
# - makes users.display_name NOT NULL
# - adds column users.display_name
phase: str = "mixed"

# The users table as this revision leaves it after its first step, written out so the
# revision does not depend on today's models. Batch mode copies the table from it on
# SQLite instead of reflecting it, which is also what lets ``--sql`` render there.
users = sa.Table(
    "users",
    sa.MetaData(),
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("username", sa.String(length=80), nullable=False),
    sa.Column("email", sa.String(length=120), nullable=False),
    sa.Column("display_name", sa.String(length=80), nullable=True),
    sa.PrimaryKeyConstraint("id", name="pk_users"),
    sa.UniqueConstraint("email", name="uq_users_email"),
    sa.UniqueConstraint("username", name="uq_users_username"),
)


def upgrade() -> None:
    """Add ``users.display_name``, filled in from ``username`` for existing users."""
    # review: allow blocking-lock - users is small: add, fill, tighten in one step
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("display_name", sa.String(80), nullable=True))

    # One set-based UPDATE, not a loop over rows: existing users are shown by their
    # username until they choose a display name.
    op.execute(
        users.update()
        .where(users.c.display_name.is_(None))
        .values(display_name=users.c.username)
    )

    with op.batch_alter_table("users", copy_from=users) as batch_op:
        # review: allow set-not-null - backfilled above; a short scan of a small table
        batch_op.alter_column(
            "display_name", existing_type=sa.String(80), nullable=False
        )


def downgrade() -> None:
    """Drop ``users.display_name``; every other column and row is kept."""
    with op.batch_alter_table("users", copy_from=users) as batch_op:
        batch_op.drop_column("display_name")
