"""A Test or Diagnose whose client hangs up still ends up in the audit trail, with its outcome.

A real HTTP client sends the request over a raw socket and closes it while the relay (a
real aiosmtpd on loopback) holds the test at MAIL FROM; only once the service has seen the
connection go does the relay answer. The test must then run to its end, be recorded with
its outcome, and the next test on the same instance must work as usual.

Under uvicorn only the streamed Diagnose was cut short by a hang-up (Starlette cancels a
streaming response whose client left); uvicorn lets a plain request's handler run on, so
those two cases guard against a regression. A server that cancels the handler instead is
covered in-process by tests/test_test_records.py.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.api.test_audit import audit
from tests.api.test_test_email import relay_body
from tests.support.service import RunningService
from tests.support.smtp import LoopThread, SmtpServer

WAIT_SECONDS = 30.0  # how long to wait for something that must happen (not a speed check)


class HeldRelay:
    """A real relay that holds every MAIL FROM until released."""

    def __init__(self, relay: SmtpServer, loop_thread: LoopThread) -> None:
        self.relay = relay
        self.loop_thread = loop_thread
        self.release_event: asyncio.Event = loop_thread.run(self._event())
        self.reached = 0
        self.arrived = threading.Event()
        original = relay.handler.handle_MAIL

        async def held(*args: Any) -> str:
            self.reached += 1
            self.arrived.set()
            await self.release_event.wait()
            return await original(*args)

        relay.handler.handle_MAIL = held  # type: ignore[method-assign,assignment]

    @staticmethod
    async def _event() -> asyncio.Event:
        return asyncio.Event()

    def wait_reached(self, count: int = 1) -> None:
        until(lambda: self.reached >= count, "the test never reached MAIL FROM")

    def release(self) -> None:
        self.loop_thread.loop.call_soon_threadsafe(self.release_event.set)


def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def raw_request(service: RunningService, path: str, body: dict[str, Any],
                accept: str = "application/json") -> socket.socket:
    """Send a request with Basic credentials over a socket of our own, and leave it open."""
    import base64

    host, port = service.url.removeprefix("http://").split(":")
    payload = json.dumps(body).encode()
    credentials = base64.b64encode(f"admin:{service.admin_password}".encode()).decode()
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Basic {credentials}\r\n"
            "x-keyfactor-requested-with: APIClient\r\nContent-Type: application/json\r\n"
            f"Accept: {accept}\r\nContent-Length: {len(payload)}\r\n\r\n").encode()
    connection = socket.create_connection((host, int(port)))
    connection.sendall(head + payload)
    return connection


def open_connections(service: RunningService) -> int:
    return len(service.server.server_state.connections)


def hang_up(service: RunningService, connection: socket.socket) -> None:
    """Close the client's socket and wait until the service has seen it go."""
    before = open_connections(service)
    connection.close()
    until(lambda: open_connections(service) < before, "the service never saw the hang-up")
    with service.client() as client:  # a full round trip: the disconnect is processed
        assert client.get("/healthz").status_code == 200


def records(service: RunningService, action: str) -> list[dict[str, Any]]:
    return [r for r in audit(service, action=action) if r["Detail"]]


@pytest.mark.parametrize(("path", "action", "accept"), [
    ("/KeyfactorAPI/SMTP/Test", "Test", "application/json"),
    ("/KeyfactorAPI/SMTP/Diagnose", "Diagnose", "application/json"),
    ("/KeyfactorAPI/SMTP/Diagnose", "Diagnose", "application/x-ndjson"),
])
def test_a_test_whose_client_hangs_up_is_recorded_with_its_outcome(
        service: RunningService, smtp_server: Callable[..., SmtpServer],
        loop_thread: LoopThread, path: str, action: str, accept: str) -> None:
    held = HeldRelay(smtp_server(), loop_thread)
    connection = raw_request(service, path, relay_body(held.relay.port), accept)
    held.wait_reached()
    hang_up(service, connection)
    held.release()
    until(lambda: len(records(service, action)) == 1, "the abandoned test was never recorded")
    [record] = records(service, action)
    assert record["Success"] is True, record
    assert len(held.relay.received) == 1, "the test did not run to its end"

    # The same instance runs the next test as usual.
    with service.client() as client:
        response = client.post(path, json=relay_body(held.relay.port))
    assert response.status_code == 200, response.text
    assert len(held.relay.received) == 2
    newest, _ = records(service, action)
    assert newest["Success"] is True
    assert response.headers["x-test-id"] in newest["Detail"]
