"""The OAuth certificate credential (private key sealed) and the client secret's expiry.

One row (id 1), created empty with version 1; a certificate credential fills it.

Revision ID: 0014_oauth_credential
Revises: 0012_service_account
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_oauth_credential"
down_revision = "0012_service_account"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "oauth_credential",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("certificate_pem", sa.Text()),
        sa.Column("private_key_sealed", sa.LargeBinary()),
        sa.Column("algorithm", sa.String(8)),
        sa.Column("token_endpoint", sa.String(2048)),
        sa.Column("client_id", sa.String(256)),
        sa.Column("host", sa.String(255)),
        sa.Column("port", sa.Integer()),
        sa.Column("use_ssl", sa.Boolean()),
        sa.Column("trust", sa.JSON()),
        sa.Column("client_secret_expires", sa.Date()),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True)),
        sa.Column("updated_by", sa.String(128)),
        sa.PrimaryKeyConstraint("id", name="pk_oauth_credential"),
    )
    op.bulk_insert(table, [{"id": 1, "version": 1}])


def downgrade() -> None:
    op.drop_table("oauth_credential")
