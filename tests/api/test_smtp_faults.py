"""SMTP servers that fail mid-conversation: each test ends at the right step, within the
bound, and the service keeps serving."""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.support.service import RunningService
from tests.support.smtp import ScriptedServer

Action = str | Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST instead of a FIN, like a crashed or killed relay."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def smtp_script(replies: dict[str, Action], banner: Action = "220 mx.test ESMTP") -> Callable[
        [asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    """A plain SMTP server that answers each verb from `replies` (default: success).

    An action is a reply line, "stall" (say nothing, keep the connection), "reset" (TCP
    RST) or "close" (FIN).
    """
    defaults = {"EHLO": "250-mx.test\r\n250 SIZE 100000", "MAIL": "250 OK", "RCPT": "250 OK",
                "DATA": "354 go ahead", ".": "250 queued", "QUIT": "221 bye", "RSET": "250 OK"}

    async def act(action: Action, reader: asyncio.StreamReader,
                  writer: asyncio.StreamWriter) -> bool:
        if callable(action):
            await action(reader, writer)
            return False
        if action == "stall":
            await reader.read()
            return False
        if action == "reset":
            reset(writer)
            return False
        if action == "close":
            writer.close()
            return False
        writer.write(action.encode() + b"\r\n")
        await writer.drain()
        return True

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not await act(banner, reader, writer):
            return
        while line := await reader.readline():
            verb = line.split(b" ", 1)[0].strip().upper().decode(errors="replace")
            if verb == "DATA":
                if not await act(replies.get("DATA", defaults["DATA"]), reader, writer):
                    return
                while await reader.readline() not in (b".\r\n", b""):
                    if replies.get("BODY") == "reset":
                        reset(writer)
                        return
                verb = "."
            action = replies.get(verb, defaults.get(verb, "500 unknown"))
            if not await act(action, reader, writer):
                return
            if verb == "QUIT":
                return

    return handle


def body(port: int) -> dict[str, Any]:
    return {"Host": "127.0.0.1", "Port": port, "SenderAccount": "a@corp.local",
            "SenderName": "KF", "TestRecipient": "b@corp.local"}


def run_against(service: RunningService, server: ScriptedServer) -> dict[str, Any]:
    started = time.monotonic()
    with service.client() as client:
        response = client.post("/KeyfactorAPI/SMTP/Diagnose", json=body(server.port))
        report: dict[str, Any] = response.json()
        assert response.status_code == 200, report
        # A bound, not a speed: the whole-test limit is 6 s in these tests.
        assert time.monotonic() - started < service.settings.test_timeout + 5
        assert client.get("/KeyfactorAPI/SMTP").status_code == 200  # still serving
    return report


def failed_step(report: dict[str, Any]) -> dict[str, Any]:
    steps: list[dict[str, Any]] = [s for s in report["Steps"] if s["Status"] == "failed"]
    assert len(steps) == 1, report["Steps"]
    return steps[0]


@pytest.mark.parametrize(("verb", "step"), [
    ("BANNER", "banner"), ("EHLO", "ehlo"), ("MAIL", "mail_from"), ("RCPT", "rcpt_to"),
    ("DATA", "data"), (".", "data"),
])
def test_421_at_any_step(service: RunningService,
                         scripted_server: Callable[..., ScriptedServer], verb: str,
                         step: str) -> None:
    reply = "421 4.3.2 Service shutting down"
    script = smtp_script({} if verb == "BANNER" else {verb: reply},
                         banner=reply if verb == "BANNER" else "220 mx.test ESMTP")
    failed = failed_step(run_against(service, scripted_server(script)))
    assert failed["Name"] == step
    assert failed["ReplyCode"] == 421
    assert "closing the connection (421)" in failed["Message"]


def test_connection_reset_mid_data(service: RunningService,
                                   scripted_server: Callable[..., ScriptedServer]) -> None:
    failed = failed_step(run_against(service, scripted_server(smtp_script({"BODY": "reset"}))))
    assert failed["Name"] == "data"
    assert "closed the connection" in failed["Message"] or "network error" in failed["Message"]


def test_a_server_that_stalls_after_the_banner(
        service: RunningService, scripted_server: Callable[..., ScriptedServer]) -> None:
    failed = failed_step(run_against(service, scripted_server(smtp_script({"EHLO": "stall"}))))
    assert failed["Name"] == "ehlo" and "time limit" in failed["Message"]


@pytest.mark.parametrize("verb", ["EHLO", "MAIL", "RCPT"])
def test_garbage_mid_conversation_is_not_echoed(
        service: RunningService, scripted_server: Callable[..., ScriptedServer],
        verb: str) -> None:
    report = run_against(service, scripted_server(
        smtp_script({verb: "\x00\x01 totally-not-smtp <html>"})))
    failed = failed_step(report)
    assert "not an SMTP server" in failed["Message"]
    assert "totally-not-smtp" not in str(report)


def test_a_server_that_closes_during_the_reply(
        service: RunningService, scripted_server: Callable[..., ScriptedServer]) -> None:
    failed = failed_step(run_against(service, scripted_server(smtp_script({"RCPT": "close"}))))
    assert failed["Name"] == "rcpt_to" and "closed the connection" in failed["Message"]


def test_tls_handshake_aborted(service: RunningService,
                               scripted_server: Callable[..., ScriptedServer]) -> None:
    async def accept_then_abort(reader: asyncio.StreamReader,
                                writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 ready to start TLS\r\n")
        await writer.drain()
        await reader.read(5)  # the first bytes of the ClientHello
        reset(writer)

    script = smtp_script({"EHLO": "250-mx.test\r\n250 STARTTLS", "STARTTLS": accept_then_abort})
    server = scripted_server(script)
    with service.client() as client:
        report = client.post("/KeyfactorAPI/SMTP/Diagnose",
                             json={**body(server.port), "UseSSL": True}).json()
    failed = failed_step(report)
    assert failed["Name"] == "starttls"
    assert "TLS handshake" in failed["Message"]
