"""PostgreSQL: every commit that changes what a request's snapshot reads notifies.

Each instance keeps the snapshots it read (user, sign-in counters, profile version,
options stamp) while nothing changed, and learns of a change from a notification on the
channel `smtp_profile_<schema>` (store/change_feed.py). Triggers, not the application,
send it, so every writer notifies: another instance, an admin command, an older release,
a statement typed into psql. One notification per statement, sent by PostgreSQL when the
writing transaction commits. SQLite needs none of this (its commit counter,
`PRAGMA data_version`, does the same work).

Revision ID: 0015_change_notifications
Revises: 0014_oauth_credential
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0015_change_notifications"
down_revision = "0014_oauth_credential"
branch_labels = None
depends_on = None

FUNCTION = "smtp_profile_notify_change"
TABLES = ("smtp_profile", "users", "throttle", "sign_in_addresses", "relay_options")
"""The tables a snapshot reads (store/snapshot.py); a test holds the two lists together."""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"""
        CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('smtp_profile_' || TG_TABLE_SCHEMA, TG_TABLE_NAME);
            RETURN NULL;
        END
        $$""")
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
    op.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}()")
