"""Counters for failed sign-ins and test rate limits, shared by every instance.

Revision ID: 0005_throttle
Revises: 0004_audit
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_throttle"
down_revision = "0004_audit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "throttle",
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_throttle"),
    )
    op.create_index("ix_throttle_last_at", "throttle", ["last_at"])


def downgrade() -> None:
    op.drop_index("ix_throttle_last_at", table_name="throttle")
    op.drop_table("throttle")
