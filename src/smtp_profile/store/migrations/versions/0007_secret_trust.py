"""The certificate checks a stored secret was entered under, kept beside it.

A stored relay password or OAuth client secret is only sent while the relay options
(Insecure, PinnedSha256, CaBundle) still verify the relay as they did when it was entered.
Secrets stored before this revision are bound to the options in force now: the best
evidence there is of what they were entered under.

Revision ID: 0007_secret_trust
Revises: 0006_sign_in_limits
Create Date: 2026-12-01
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0007_secret_trust"
down_revision = "0006_sign_in_limits"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("smtp_profile") as batch:
        batch.add_column(sa.Column("secret_trust", sa.JSON(), nullable=True))
    connection = op.get_bind()
    options = connection.execute(sa.text(
        "SELECT insecure, pinned_sha256, ca_pem FROM relay_options WHERE id = 1")).first()
    if options is None:
        return
    ca_pem = options.ca_pem
    # The same form as domain.relay_options.TrustBinding.to_json, frozen here.
    binding = {"Insecure": bool(options.insecure), "PinnedSha256": options.pinned_sha256,
               "CaBundle": hashlib.sha256(ca_pem.encode("utf-8")).hexdigest()
               if ca_pem else None}
    profile = sa.table("smtp_profile", sa.column("id", sa.Integer),
                       sa.column("password_sealed", sa.LargeBinary),
                       sa.column("client_secret_sealed", sa.LargeBinary),
                       sa.column("secret_trust", sa.JSON))
    connection.execute(
        profile.update()
        .where(sa.or_(profile.c.password_sealed.is_not(None),
                      profile.c.client_secret_sealed.is_not(None)))
        .values(secret_trust=binding))


def downgrade() -> None:
    with op.batch_alter_table("smtp_profile") as batch:
        batch.drop_column("secret_trust")
