"""PAM providers, and the profile's references to them.

`pam_providers` holds each configured provider: its type, its plain provider-level
settings (JSON) and its secret ones sealed together (AES-GCM, store/secret_box.py).
`smtp_profile.secret_references` holds the profile's references (provider Id and
instance-level parameters per credential; never a value).

Revision ID: 0010_pam_providers
Revises: 0009_profile_generation
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_pam_providers"
down_revision = "0009_profile_generation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pam_providers",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("name_key", sa.String(128), nullable=False),
        sa.Column("type_name", sa.String(64), nullable=False),
        sa.Column("settings", sa.JSON, nullable=False),
        sa.Column("secrets_sealed", sa.LargeBinary),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True)),
        sa.Column("updated_by", sa.String(128)),
        sa.PrimaryKeyConstraint("id", name="pk_pam_providers"),
        sa.UniqueConstraint("name_key", name="uq_pam_providers_name_key"),
    )
    with op.batch_alter_table("smtp_profile") as batch:
        batch.add_column(sa.Column("secret_references", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("smtp_profile") as batch:
        batch.drop_column("secret_references")
    op.drop_table("pam_providers")
