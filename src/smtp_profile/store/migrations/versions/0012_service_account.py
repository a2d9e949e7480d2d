"""The Google service account key (JWT bearer grant): one row, the private key sealed.

Revision ID: 0012_service_account
Revises: 0011_client_certificate
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_service_account"
down_revision = "0011_client_certificate"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "service_account",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("client_email", sa.String(320)),
        sa.Column("private_key_id", sa.String(128)),
        sa.Column("token_uri", sa.String(2048)),
        sa.Column("client_id", sa.String(256)),
        sa.Column("project_id", sa.String(128)),
        sa.Column("private_key_sealed", sa.LargeBinary()),
        sa.Column("relay_host", sa.String(255)),
        sa.Column("relay_port", sa.Integer()),
        sa.Column("relay_use_ssl", sa.Boolean()),
        sa.Column("secret_trust", sa.JSON()),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True)),
        sa.Column("updated_by", sa.String(128)),
        sa.PrimaryKeyConstraint("id", name="pk_service_account"),
    )
    op.bulk_insert(table, [{"id": 1, "version": 1}])


def downgrade() -> None:
    op.drop_table("service_account")
