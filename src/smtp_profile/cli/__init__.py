"""The `smtp-profile` command: run the service, administer its data, use the profile.

One module per group of commands; importing them registers them on `app`.
"""

from smtp_profile.cli import audit, keys, pam, profile, relay, serve, users
from smtp_profile.cli.app import app

__all__ = ["app", "audit", "keys", "main", "pam", "profile", "relay", "serve", "users"]


def main() -> None:
    app()
