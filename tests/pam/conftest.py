"""The PAM provider types are tested without the service or a database: each test talks to
a real provider (moto, a command, the Vault stand-in) through the type's own source."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def database_url() -> None:
    """No schema per test: these tests touch no database (see tests/conftest.py)."""
    return None
