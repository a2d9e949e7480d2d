"""What every provider type's tests check after their fetches: nothing left running."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

from smtp_profile.domain.secret_reference import SecretFailure, SecretUnavailable

T = TypeVar("T")


def run_clean(body: Callable[[], Awaitable[T]], thread_prefix: str | None = None) -> T:
    """Runs `body` in a fresh event loop and checks it left no task behind (and, with
    `thread_prefix`, no thread of that name once the source is closed)."""

    async def wrapped() -> T:
        result = await body()
        others = asyncio.all_tasks() - {asyncio.current_task()}
        assert not others, f"tasks left running: {others}"
        return result

    result = asyncio.run(wrapped())
    if thread_prefix is not None:
        left = [t.name for t in threading.enumerate() if t.name.startswith(thread_prefix)]
        assert not left, f"threads left running: {left}"
    return result


async def failure_of(fetch: Awaitable[str]) -> SecretUnavailable:
    """The SecretUnavailable a fetch raises (the test fails if it returns a value)."""
    with pytest.raises(SecretUnavailable) as caught:
        await fetch
    return caught.value


def assert_failure(problem: SecretUnavailable, failure: SecretFailure, *words: str) -> None:
    assert problem.failure is failure, (problem.failure, problem.detail)
    for word in words:
        assert word in problem.detail, (word, problem.detail)


TEST_SERVERS = ("moto", "werkzeug")
"""Loggers of the provider stand-ins running in this process (moto's server logs the
requests it is sent, a put secret among them): not the service's logs."""


def service_log(caplog: pytest.LogCaptureFixture) -> str:
    """Everything logged in the test except by the in-process provider stand-ins."""
    return "\n".join(f"{record.name} {record.getMessage()}" for record in caplog.records
                     if not record.name.startswith(TEST_SERVERS))
