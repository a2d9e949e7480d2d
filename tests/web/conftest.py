"""Fixtures for the web page's tests: both kinds of database, and a real browser."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect, sync_playwright

POSTGRES = "host=127.0.0.1 port=5432 user=postgres dbname=test"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A new, empty PostgreSQL database on loopback, dropped afterwards.

    Its own database, not a schema in `test`: other test runs on this machine share the
    server, and migrations must start from nothing.
    """
    name = f"smtp_profile_web_{secrets.token_hex(6)}"
    try:
        admin = psycopg.connect(POSTGRES, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable on 127.0.0.1:5432 ({exc}); start it with "
                    "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"postgresql://postgres@127.0.0.1:5432/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'sessions.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


# ---- the browser ---------------------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking"]
SKIP_BROWSER = "SMTP_PROFILE_SKIP_BROWSER"
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
# Generous: two shared cores, and a test may wait for an SMTP timeout.
TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, driven by Playwright (which never downloads one here).

    Module scope, not session: while Playwright's sync API is active its event loop runs
    in this thread, and other tests' asyncio.run() would fail.
    """
    if os.environ.get(SKIP_BROWSER) == "1":
        pytest.skip(f"{SKIP_BROWSER}=1: the web page's browser tests are SKIPPED; "
                    "the page is untested in this run")
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium is missing ({CHROMIUM}). Install it with "
                    "`apt-get install -y chromium` (.ci/run does), or set "
                    f"{SKIP_BROWSER}=1 to skip the browser tests.")
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM),
                                              args=CHROMIUM_ARGS, timeout=60_000)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (no cookies, no storage) at 1280x800."""
    context = browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    context.close()
    assert errors == [], f"the page raised JavaScript errors: {errors}"
