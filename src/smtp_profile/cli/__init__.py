"""The `smtp-profile` command: run the service, administer its data, use the profile.

One module per group of commands; importing them registers them on `app`.
"""

from smtp_profile.cli import (
    audit,
    client_cert,
    keys,
    oauth_credential,
    pam,
    profile,
    relay,
    serve,
    service_account,
    users,
)
from smtp_profile.cli.app import app

__all__ = ["app", "audit", "client_cert", "keys", "main", "oauth_credential", "pam",
           "profile", "relay", "serve", "service_account", "users"]


def main() -> None:
    app()
