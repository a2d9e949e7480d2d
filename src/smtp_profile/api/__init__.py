"""HTTP adapter: the Keyfactor-compatible routes, authentication and error responses."""

from smtp_profile.api.app import create_app

__all__ = ["create_app"]
