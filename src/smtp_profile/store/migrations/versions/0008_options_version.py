"""A version for the relay options: their ETag, and a compare-and-swap for their writes.

Revision ID: 0008_options_version
Revises: 0007_secret_trust
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_options_version"
down_revision = "0007_secret_trust"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("relay_options", sa.Column("version", sa.Integer(), nullable=False,
                                             server_default="1"))


def downgrade() -> None:
    with op.batch_alter_table("relay_options") as batch:
        batch.drop_column("version")
