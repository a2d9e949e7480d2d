"""The relay client certificate: its chain, its sealed private key and its binding.

Revision ID: 0011_client_certificate
Revises: 0010_pam_providers
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_client_certificate"
down_revision = "0010_pam_providers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "client_certificate",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("chain_pem", sa.Text, nullable=False),
        sa.Column("key_sealed", sa.LargeBinary, nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("port", sa.Integer, nullable=False),
        sa.Column("use_ssl", sa.Boolean, nullable=False),
        sa.Column("trust", sa.JSON, nullable=False),
        sa.Column("sasl_external", sa.Boolean, nullable=False),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_client_certificate"),
    )
    # The version survives a removal (the row goes, the counter stays), so an ETag read
    # before a DELETE never matches what a later PUT stored.
    op.create_table(
        "client_certificate_version",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_client_certificate_version"),
    )
    op.execute(sa.text("INSERT INTO client_certificate_version (id, version) VALUES (1, 0)"))


def downgrade() -> None:
    op.drop_table("client_certificate_version")
    op.drop_table("client_certificate")
