"""A random generation id beside the profile's version, changed on every write.

The version alone cannot tell two profiles apart once the database is restored from a
backup: the restored row counts up again through version numbers an instance has
already seen with other contents. The generation, random per write, can.

Revision ID: 0009_profile_generation
Revises: 0008_options_version
Create Date: 2026-12-01
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0009_profile_generation"
down_revision = "0008_options_version"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("smtp_profile") as batch:
        batch.add_column(sa.Column("generation", sa.String(32), nullable=True))
    op.execute(sa.text("UPDATE smtp_profile SET generation = :generation")
               .bindparams(generation=secrets.token_hex(16)))
    with op.batch_alter_table("smtp_profile") as batch:
        batch.alter_column("generation", existing_type=sa.String(32), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("smtp_profile") as batch:
        batch.drop_column("generation")
