"""Relay options (trust, AUTH mechanism) and the last test of the stored profile.

Revision ID: 0002_diagnostics
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_diagnostics"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    options = op.create_table(
        "relay_options",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("ca_pem", sa.Text()),
        sa.Column("pinned_sha256", sa.String(64)),
        sa.Column("insecure", sa.Boolean(), nullable=False),
        sa.Column("mechanism", sa.String(8), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True)),
        sa.Column("updated_by", sa.String(128)),
        sa.PrimaryKeyConstraint("id", name="pk_relay_options"),
    )
    op.bulk_insert(options, [{"id": 1, "insecure": False, "mechanism": "auto"}])
    op.create_table(
        "relay_status",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("test_id", sa.String(64), nullable=False),
        sa.Column("tested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tested_by", sa.String(128), nullable=False),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("failed_step", sa.String(16)),
        sa.Column("message", sa.Text()),
        sa.Column("profile_version", sa.Integer(), nullable=False),
        sa.Column("certificate_not_after", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name="pk_relay_status"),
    )


def downgrade() -> None:
    op.drop_table("relay_status")
    op.drop_table("relay_options")
