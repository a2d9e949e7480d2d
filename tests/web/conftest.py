"""Fixtures for the web page's tests: the run's kind of database, and a real browser."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect, sync_playwright
from sqlalchemy.engine import make_url

from tests.support.database import libpq_url, requested_postgres


def _postgres_database(server: str) -> Iterator[str]:
    """A new, empty database on the run's PostgreSQL server, dropped afterwards.

    Its own database, not a schema in the server's: other test runs on this machine
    share the server, and migrations must start from nothing.
    """
    name = f"smtp_profile_web_{secrets.token_hex(6)}"
    try:
        admin = psycopg.connect(libpq_url(server), autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {server} ({exc}); start it with "
                    "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield make_url(server).set(database=name).render_as_string(hide_password=False)
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """SQLite, or a new PostgreSQL database when the run is a PostgreSQL run (CI runs
    the suite once on each, so the page is tested on both)."""
    server = requested_postgres()
    if server is None:
        yield f"sqlite+aiosqlite:///{tmp_path / 'sessions.db'}"
        return
    yield from _postgres_database(server)


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
