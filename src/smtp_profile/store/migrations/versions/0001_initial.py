"""The SMTP profile (seeded with Id 1) and local users.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    profile = op.create_table(
        "smtp_profile",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("host", sa.String(255)),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("auth_type", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(256)),
        sa.Column("password_sealed", sa.LargeBinary()),
        sa.Column("sender_account", sa.String(320)),
        sa.Column("sender_name", sa.String(256)),
        sa.Column("use_ssl", sa.Boolean(), nullable=False),
        sa.Column("client_id", sa.String(256)),
        sa.Column("client_secret_sealed", sa.LargeBinary()),
        sa.Column("token_endpoint", sa.String(2048)),
        sa.Column("scope", sa.String(1024)),
        sa.Column("audience", sa.String(1024)),
        sa.Column("request_headers", sa.JSON()),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True)),
        sa.Column("updated_by", sa.String(128)),
        sa.PrimaryKeyConstraint("id", name="pk_smtp_profile"),
    )
    op.bulk_insert(
        profile,
        [{"id": 1, "port": 25, "auth_type": 0, "use_ssl": False, "version": 1}],
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("name_key", sa.String(128), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("permissions", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("name_key", name="uq_users_name_key"),
    )


def downgrade() -> None:
    op.drop_table("users")
    op.drop_table("smtp_profile")
