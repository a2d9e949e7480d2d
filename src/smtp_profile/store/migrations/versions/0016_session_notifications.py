"""PostgreSQL: a commit that changes a web session notifies too.

Each instance remembers the web sessions it resolved while nothing changed (the
`sessions` memory of usecases/memory.py), guarded by the same change feed as the
snapshots (store/change_feed.py, migration 0015). A session is read with its user, whose
table 0015 already watches; this adds the sessions' own table, so a sign-out on another
instance, a slid end, or a row deleted by hand reaches every instance's next request.
SQLite needs none of this (`PRAGMA data_version` moves on any commit).

Revision ID: 0016_session_notifications
Revises: 0015_change_notifications
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0016_session_notifications"
down_revision = "0015_change_notifications"
branch_labels = None
depends_on = None

FUNCTION = "smtp_profile_notify_change"
"""Created by 0015: notifies `smtp_profile_<schema>` with the table's name."""
TABLES = ("web_sessions",)
"""The tables a session look-up reads beyond 0015's (store/sessions.py); a test holds
the lists together."""


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
