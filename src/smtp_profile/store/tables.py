"""The schema. Secrets are stored only sealed (store/secret_box.py); no column holds clear text."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "pk": "pk_%(table_name)s",
    }
)

smtp_profile = Table(
    "smtp_profile",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("host", String(255)),
    Column("port", Integer, nullable=False),
    Column("auth_type", Integer, nullable=False),
    Column("username", String(256)),
    Column("password_sealed", LargeBinary),
    Column("sender_account", String(320)),
    Column("sender_name", String(256)),
    Column("use_ssl", Boolean, nullable=False),
    Column("client_id", String(256)),
    Column("client_secret_sealed", LargeBinary),
    Column("token_endpoint", String(2048)),
    Column("scope", String(1024)),
    Column("audience", String(1024)),
    Column("request_headers", JSON),
    # The relay options' certificate checks when the stored secret was entered (0007).
    Column("secret_trust", JSON),
    Column("version", Integer, nullable=False),
    # Random, new on every write: with the version it names one profile even across a
    # restore from backup, which makes version numbers count up again (0009).
    Column("generation", String(32), nullable=False),
    Column("updated_at", DateTime(timezone=True)),
    Column("updated_by", String(128)),
    # References to PAM providers, per credential: {"RelayPassword": {"Provider": 3,
    # "Parameters": {...}}, ...}; never a value (0010).
    Column("secret_references", JSON),
)

# PAM providers (0010): plain provider-level settings as JSON, the secret ones sealed
# together as one JSON object (store/secret_box.py), never in clear text.
pam_providers = Table(
    "pam_providers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False),
    Column("name_key", String(128), nullable=False, unique=True),
    Column("type_name", String(64), nullable=False),
    Column("settings", JSON, nullable=False),
    Column("secrets_sealed", LargeBinary),
    Column("version", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True)),
    Column("updated_by", String(128)),
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False),
    Column("name_key", String(128), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("permissions", String(255), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

relay_options = Table(
    "relay_options",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("ca_pem", Text),
    Column("pinned_sha256", String(64)),
    Column("insecure", Boolean, nullable=False),
    Column("mechanism", String(8), nullable=False),
    Column("updated_at", DateTime(timezone=True)),
    Column("updated_by", String(128)),
    # Incremented by every write: the ETag of GET /SMTP/Options (revision 0008).
    Column("version", Integer, nullable=False, server_default="1"),
)

relay_status = Table(
    "relay_status",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("test_id", String(64), nullable=False),
    Column("tested_at", DateTime(timezone=True), nullable=False),
    Column("tested_by", String(128), nullable=False),
    Column("mode", String(8), nullable=False),
    Column("success", Boolean, nullable=False),
    Column("failed_step", String(16)),
    Column("message", Text),
    Column("profile_version", Integer, nullable=False),
    Column("certificate_not_after", DateTime(timezone=True)),
)

# The relay client certificate (revision 0011): the chain in clear (it is public), the
# private key sealed, and the destination and trust it was saved for.
client_certificate = Table(
    "client_certificate",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("chain_pem", Text, nullable=False),
    Column("key_sealed", LargeBinary, nullable=False),
    Column("host", String(255), nullable=False),
    Column("port", Integer, nullable=False),
    Column("use_ssl", Boolean, nullable=False),
    Column("trust", JSON, nullable=False),
    Column("sasl_external", Boolean, nullable=False),
    Column("not_after", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(128), nullable=False),
)

client_certificate_version = Table(
    "client_certificate_version",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("version", Integer, nullable=False),
)

# Web page sign-ins. Only a SHA-256 of the session token is stored: a copy of this table
# does not let anyone act as the signed-in users.
oauth_credential = Table(
    # The OAuth certificate credential (private key sealed) and the client secret's
    # recorded expiry: this service's extension to a type-3 profile (migration 0014).
    "oauth_credential",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("certificate_pem", Text),
    Column("private_key_sealed", LargeBinary),
    Column("algorithm", String(8)),
    Column("token_endpoint", String(2048)),
    Column("client_id", String(256)),
    Column("host", String(255)),
    Column("port", Integer),
    Column("use_ssl", Boolean),
    Column("trust", JSON),
    Column("client_secret_expires", Date),
    Column("version", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True)),
    Column("updated_by", String(128)),
)

web_sessions = Table(
    "web_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_name_key", String(128), nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False, index=True),
)

# BIGINT on PostgreSQL; on SQLite an INTEGER primary key is the rowid, which autoincrements.
AUDIT_ID = BigInteger().with_variant(Integer(), "sqlite")

# Append-only: the service inserts and prunes by age; no code path updates a record.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", AUDIT_ID, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("action", String(64), nullable=False),
    Column("user_name", String(128)),
    Column("client", String(64)),
    Column("success", Boolean, nullable=False),
    Column("error_code", String(16)),
    Column("message", Text),
    Column("detail", String(500)),
    Column("profile_version", Integer),
    Column("changes", JSON, nullable=False),
    Index("ix_audit_log_at", "at"),
    Index("ix_audit_log_action_at", "action", "at"),
)

# Failed sign-ins per user and address, tests per user and minute: shared by instances.
throttle = Table(
    "throttle",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("count", Integer, nullable=False),
    Column("last_at", DateTime(timezone=True), nullable=False, index=True),
    Column("blocked_until", DateTime(timezone=True)),
)

# Where each user signed in before (name as the throttle keys hold it): such an address
# keeps its own sign-in budget whatever strangers elsewhere do.
sign_in_addresses = Table(
    "sign_in_addresses",
    metadata,
    Column("user_key", String(200), primary_key=True),
    Column("address", String(64), primary_key=True),
    Column("last_at", DateTime(timezone=True), nullable=False, index=True),
)

# Refused sign-ins per client address and minute: the first few are recorded one by
# one, the rest only counted here and summed up in one record when the minute is over.
audit_refusals = Table(
    "audit_refusals",
    metadata,
    Column("client", String(64), primary_key=True),
    Column("window_start", DateTime(timezone=True), primary_key=True),
    Column("count", Integer, nullable=False),
    Index("ix_audit_refusals_window_start", "window_start"),
)

# The Google service account key for the JWT bearer grant (0012): one row, always there;
# deleting the key clears its columns and counts the version on (the ETag). Only the
# private key is secret: sealed, like the relay password.
service_account = Table(
    "service_account",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("client_email", String(320)),
    Column("private_key_id", String(128)),
    Column("token_uri", String(2048)),
    Column("client_id", String(256)),
    Column("project_id", String(128)),
    Column("private_key_sealed", LargeBinary),
    Column("relay_host", String(255)),
    Column("relay_port", Integer),
    Column("relay_use_ssl", Boolean),
    Column("secret_trust", JSON),
    Column("version", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True)),
    Column("updated_by", String(128)),
)
