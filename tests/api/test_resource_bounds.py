"""Bounded resources: slow clients are cut off, one address cannot hold every connection,
and only so many tests run at once, whatever the per-user rate limit says.

Every client here is a real socket or httpx on 127.0.0.1 against the real service (the
same uvicorn configuration `serve` runs, `http_server.server_config`). Waits are bounded
so that a missing defence fails the test instead of hanging it; nothing asserts on time.
"""

from __future__ import annotations

import asyncio
import gc
import ipaddress
import json
import socket
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from smtp_profile.domain.actor import Actor
from smtp_profile.domain.errors import DomainError
from smtp_profile.runtime import Runtime, prepare
from smtp_profile.server.listener import ConnectionGuard
from smtp_profile.wire import v2
from tests.api.test_smtp_routes import error
from tests.support.resolver import StaticResolver
from tests.support.service import RunningService, service_settings, start_service
from tests.support.smtp import ScriptedServer, SmtpServer
from tests.test_cli import serving

GIVE_UP_SECONDS = 30.0
"""How long a test waits for something that must happen before it calls it missing."""


@pytest.fixture
def bounded(tmp_path: Path, ca_bundle: Path) -> Iterator[Callable[..., RunningService]]:
    started: list[RunningService] = []

    def start(**overrides: Any) -> RunningService:
        settings = service_settings(tmp_path / f"data{len(started)}", ca_bundle, **overrides)
        running = start_service(settings, StaticResolver({"mail.test": ["127.0.0.1"]}))
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


def connect(service: RunningService) -> socket.socket:
    host, port = service.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=GIVE_UP_SECONDS)
    return sock


def closed_by_server(sock: socket.socket, dribble: bytes) -> bool:
    """Send `dribble` one byte at a time, a byte whenever the server has been quiet for a
    moment, until the server closes the connection (True) or GIVE_UP_SECONDS pass."""
    sock.settimeout(0.2)
    give_up = time.monotonic() + GIVE_UP_SECONDS
    position = 0
    while time.monotonic() < give_up:
        try:
            if sock.recv(4096) == b"":
                return True
        except TimeoutError:
            pass
        except ConnectionError:
            return True
        try:
            sock.send(dribble[position % len(dribble):position % len(dribble) + 1])
        except ConnectionError:
            return True
        position += 1
    return False


def read_to_end(sock: socket.socket) -> bytes:
    sock.settimeout(GIVE_UP_SECONDS)
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    return data


def test_slow_clients_are_cut_off_and_one_address_cannot_hold_every_connection(
        bounded: Callable[..., RunningService]) -> None:
    service = bounded(request_read_timeout=3.0, connections_per_address=4)
    headers = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 200
    body = (b"PUT /KeyfactorAPI/SMTP HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
    slow = [connect(service) for _ in range(4)]
    try:
        for sock in slow[2:]:
            sock.sendall(body)  # complete headers, then a body that never completes
        # The address holds its 4 connections: a fifth is answered 429 and closed (its
        # request, already sent, does not turn the close into a reset that loses the 429).
        with connect(service) as extra:
            extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            refused = read_to_end(extra)
        head, _, payload = refused.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 429 "), refused
        assert b"\r\nRetry-After: " in head and b"\r\nConnection: close" in head
        assert json.loads(payload)["ErrorCode"] == "0xA0110023"
        # Dribbling header or body bytes does not keep a connection: each is closed.
        assert [closed_by_server(sock, headers if i < 2 else b"x")
                for i, sock in enumerate(slow)] == [True] * 4
    finally:
        for sock in slow:
            sock.close()
    # Their places are free again: the same address gets a whole set of connections.
    clients = [httpx.Client(base_url=service.url, timeout=GIVE_UP_SECONDS) for _ in range(4)]
    try:
        assert [c.get("/healthz").status_code for c in clients] == [200] * 4
    finally:
        for client in clients:
            client.close()


def test_a_request_that_arrives_whole_is_not_cut_off_however_long_it_runs(
        bounded: Callable[..., RunningService],
        scripted_server: Callable[..., ScriptedServer]) -> None:
    """The read deadline is for reading the request only: a test that outlasts it (held
    by a silent relay until the client has waited past the deadline) still gets its
    answer on the same connection."""
    release = asyncio.Event()
    loop: list[asyncio.AbstractEventLoop] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop.append(asyncio.get_running_loop())
        await release.wait()

    relay = scripted_server(hold)
    service = bounded(request_read_timeout=0.5, connect_timeout=60.0, test_timeout=60.0)
    with ThreadPoolExecutor(1) as pool, service.client(version=2) as client:
        answer = pool.submit(client.post, "/KeyfactorAPI/SMTP/Test", json=relay_body(relay))
        wait_for(lambda: relay.connections == 1)
        time.sleep(1.5)  # arrange: the test has now run past the read deadline
        assert not answer.done()
        loop[0].call_soon_threadsafe(release.set)
        response = answer.result(timeout=GIVE_UP_SECONDS)
    error(response, 400, "0xA0110008")  # the relay hung up: a failed test, answered


def relay_body(relay: ScriptedServer | SmtpServer, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {"Host": "127.0.0.1", "Port": relay.port,
                              "RelayAuthenticationType": 0, "UseSSL": False,
                              "SenderAccount": "kf@corp.local", "SenderName": "KF",
                              "TestRecipient": "pki@corp.local"}
    values.update(overrides)
    return values


def wait_for(condition: Callable[[], bool]) -> None:
    give_up = time.monotonic() + GIVE_UP_SECONDS
    while not condition():
        assert time.monotonic() < give_up, "gave up waiting"
        time.sleep(0.05)


def test_only_so_many_tests_run_at_once_then_503_with_retry_after(
        bounded: Callable[..., RunningService],
        scripted_server: Callable[..., ScriptedServer],
        smtp_server: Callable[..., SmtpServer]) -> None:
    limit = 3
    release = asyncio.Event()
    loop: list[asyncio.AbstractEventLoop] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop.append(asyncio.get_running_loop())
        await release.wait()  # silent until released, then hangs up

    silent_relay = scripted_server(hold)
    good_relay = smtp_server()
    service = bounded(max_concurrent_tests=limit, connect_timeout=60.0, test_timeout=60.0)
    with service.client(version=2) as client:
        # Refused tests give their place back: as many refusals as places, first.
        for _ in range(limit):
            error(client.post("/KeyfactorAPI/SMTP/Test",
                              json=relay_body(good_relay, SenderAccount="not an address")),
                  400, "0xA0110001")
    with ThreadPoolExecutor(limit) as pool:
        hanging: list[Future[httpx.Response]] = []
        for _ in range(limit):
            hanging.append(pool.submit(post_test, service, relay_body(silent_relay)))
        wait_for(lambda: silent_relay.connections == limit)
        with service.client(version=2) as client:
            busy = client.post("/KeyfactorAPI/SMTP/Test", json=relay_body(good_relay))
            streamed = client.post("/KeyfactorAPI/SMTP/Diagnose", json=relay_body(good_relay),
                                   headers={"Accept": "application/x-ndjson"})
            read = client.get("/KeyfactorAPI/SMTP")
        assert "tests are already running" in error(busy, 503, "0xA0110022")
        assert 1 <= int(busy.headers["Retry-After"]) <= 2 * 60 + 60
        error(streamed, 503, "0xA0110022")
        assert int(streamed.headers["Retry-After"]) >= 1
        assert read.status_code == 200  # reading the profile is not held up
        assert good_relay.received == []
        loop[0].call_soon_threadsafe(release.set)
        ended = [future.result(timeout=GIVE_UP_SECONDS) for future in hanging]
    assert [r.status_code for r in ended] == [400] * limit
    assert silent_relay.connections == limit  # the refused ones never connected
    # Every place is free again: `limit` tests at once all run, and succeed.
    with ThreadPoolExecutor(limit) as pool:
        again = list(pool.map(lambda _: post_test(service, relay_body(good_relay)),
                              range(limit)))
    assert [r.status_code for r in again] == [200] * limit, [r.text for r in again]
    assert len(good_relay.received) == limit
    with service.client() as client:
        audit = client.get("/KeyfactorAPI/SMTP/Audit").json()
    assert sorted(r["ErrorCode"] for r in audit if r["Action"] == "Diagnose") == ["0xA0110022"]
    assert [r["ErrorCode"] for r in audit
            if r["Action"] == "Test"].count("0xA0110022") == 1


def post_test(service: RunningService, body: dict[str, Any]) -> httpx.Response:
    with service.client(version=2) as client:
        return client.post("/KeyfactorAPI/SMTP/Test", json=body)



def test_a_prepared_test_dropped_unrun_gives_its_place_back(tmp_path: Path) -> None:
    """A streamed Diagnose whose client leaves before the stream starts never runs the
    test it prepared; its place must come back all the same."""
    settings = service_settings(tmp_path / "data", max_concurrent_tests=1)
    prepare(settings)
    actor = Actor("admin", "127.0.0.1")

    async def scenario() -> list[str]:
        runtime = Runtime.open(settings, resolver=StaticResolver({}))
        service = runtime.service
        draft = v2.decode_profile({"Host": "127.0.0.1", "Port": 2525,
                                   "SenderAccount": "kf@corp.local", "SenderName": "KF"})
        seen: list[str] = []
        try:
            first = await service.prepare_test(draft, "pki@corp.local", actor=actor)
            try:
                await service.prepare_test(draft, "pki@corp.local", actor=actor)
            except DomainError as refused:
                seen.append(refused.kind.code)
            del first  # never run
            gc.collect()
            await service.prepare_test(draft, "pki@corp.local", actor=actor)
            seen.append("prepared again")
        finally:
            await runtime.close()
        return seen

    assert asyncio.run(scenario()) == ["0xA0110022", "prepared again"]


@pytest.mark.slow
def test_the_default_start_has_the_guard(tmp_path: Path) -> None:
    """`smtp-profile serve` itself, configured by its environment variables, cuts off a
    dribbling client and refuses connections beyond the per-address limit."""
    env = {"SMTP_PROFILE_REQUEST_READ_TIMEOUT": "2", "SMTP_PROFILE_CONNECTIONS_PER_ADDRESS": "2"}
    with serving(tmp_path / "data", env=env) as (url, _):
        host, port = url.removeprefix("http://").split(":")
        opened: list[socket.socket] = []
        refused_at = None
        try:
            for index in range(3):  # one more than the limit
                sock = socket.create_connection((host, int(port)), timeout=GIVE_UP_SECONDS)
                opened.append(sock)
                sock.sendall(b"GET /healthz HTTP/1.1\r\n")
                sock.settimeout(0.5)
                try:
                    first = sock.recv(64)
                except TimeoutError:
                    continue  # admitted: the server waits for the rest of the request
                assert first.startswith(b"HTTP/1.1 429 "), first
                refused_at = index
                break
            # (a health check of `serving` may still be counted: then it comes sooner)
            assert refused_at is not None, "no connection was refused"
            admitted = opened[:refused_at]
            assert all(closed_by_server(sock, b"X-Slow: y\r\n") for sock in admitted)
        finally:
            for sock in opened:
                sock.close()
        assert httpx.get(f"{url}/healthz", timeout=GIVE_UP_SECONDS).status_code == 200


def test_what_a_client_is_counted_as() -> None:
    guard = ConnectionGuard(2, [ipaddress.ip_network("10.1.0.0/16")])
    assert guard.key("192.0.2.7") == "192.0.2.7"
    assert guard.key("::ffff:192.0.2.7") == "192.0.2.7"  # the same client, mapped
    assert guard.key("2001:db8:1:2::1") == guard.key("2001:db8:1:2:ffff::9") == \
        "2001:db8:1:2::/64"  # an IPv6 client has a /64 to pick addresses from
    assert guard.key("10.1.2.3") is None  # a trusted proxy
    assert guard.key(None) is None  # a Unix socket
    assert ConnectionGuard(0).key("192.0.2.7") is None  # no limit
    assert ConnectionGuard(2, exempt_all=True).key("192.0.2.7") is None
    assert [guard.enter("192.0.2.7") for _ in range(3)] == [True, True, False]
    guard.leave("192.0.2.7")
    assert guard.enter("192.0.2.7")
