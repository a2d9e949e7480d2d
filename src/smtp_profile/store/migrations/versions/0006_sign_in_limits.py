"""Sign-in limits that neither race nor lock people out; bounded refusal records.

`throttle.blocked_until`: until when a counter refuses attempts (set when an attempt is
counted, so the judgement and the count are one step). `sign_in_addresses`: where each
user signed in before (such an address keeps its own budget). `audit_refusals`: refused
sign-ins per address and minute beyond the few recorded one by one, summed up later.

Revision ID: 0006_sign_in_limits
Revises: 0005_throttle
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_sign_in_limits"
down_revision = "0005_throttle"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("throttle") as batch:
        batch.add_column(sa.Column("blocked_until", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "sign_in_addresses",
        sa.Column("user_key", sa.String(200), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_key", "address", name="pk_sign_in_addresses"),
    )
    op.create_index("ix_sign_in_addresses_last_at", "sign_in_addresses", ["last_at"])
    op.create_table(
        "audit_refusals",
        sa.Column("client", sa.String(64), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("client", "window_start", name="pk_audit_refusals"),
    )
    op.create_index("ix_audit_refusals_window_start", "audit_refusals", ["window_start"])


def downgrade() -> None:
    op.drop_index("ix_audit_refusals_window_start", table_name="audit_refusals")
    op.drop_table("audit_refusals")
    op.drop_index("ix_sign_in_addresses_last_at", table_name="sign_in_addresses")
    op.drop_table("sign_in_addresses")
    with op.batch_alter_table("throttle") as batch:
        batch.drop_column("blocked_until")
