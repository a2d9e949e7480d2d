"""PostgreSQL: a commit that changes the relay client certificate notifies too.

The snapshot every request reads (store/snapshot.py) carries the client certificate's
version, so that a Test takes the certificate from memory while that version stands
(`client certificate` in usecases/memory.py). The snapshot itself is remembered while
the change feed (store/change_feed.py, migration 0015) is quiet: this adds the version's
table, so an upload or removal on another instance reaches every instance's next request.
SQLite needs none of this (`PRAGMA data_version` moves on any commit).

Revision ID: 0017_client_cert_notifications
Revises: 0016_session_notifications
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0017_client_cert_notifications"
down_revision = "0016_session_notifications"
branch_labels = None
depends_on = None

FUNCTION = "smtp_profile_notify_change"
"""Created by 0015: notifies `smtp_profile_<schema>` with the table's name."""
TABLES = ("client_certificate_version",)
"""The table the snapshot reads beyond 0015's; a test holds the lists together."""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"""
            CREATE TRIGGER {table}_changed
            AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table}
            FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}()""")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_changed ON {table}")
