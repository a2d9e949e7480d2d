"""Real SMTP servers for tests: aiosmtpd on its own event loop in a thread.

Each server listens on 127.0.0.1 with an ephemeral port. `SmtpServer` speaks real SMTP
(plain, STARTTLS or implicit TLS, with AUTH PLAIN/LOGIN checking a password, and AUTH
XOAUTH2 accepting only the bearer tokens it is given);
the `*Server` classes below it misbehave in specific, deliberate ways.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import socket
import ssl
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any
from urllib.parse import quote

from aiosmtpd.smtp import MISSING, SMTP, AuthResult, Envelope, LoginPassword, Session


class LoopThread:
    """An asyncio loop running in a daemon thread, for servers the tests poke at."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=10)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    login: str | None
    tls: bool

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class Behaviour:
    """How an SmtpServer answers; the defaults accept everything."""

    users: dict[str, str] = field(default_factory=dict)
    reject_rcpt: str | None = None
    reject_mail_from: str | None = None
    reject_data: str | None = None
    data_commands: int = 0
    # AUTH XOAUTH2 is offered only when this is set, and accepts only these tokens.
    xoauth2_tokens: frozenset[str] | None = None
    # (user, token) of every AUTH XOAUTH2 received, accepted or not.
    xoauth2_attempts: list[tuple[str, str]] = field(default_factory=list)
    # A relay that echoes the AUTH argument (base64, decoded, upper-case, URL-encoded,
    # split by a space) in its reply to AUTH, and, once accepted, in every later reply.
    echo_auth: bool = False
    # The login of every AUTH PLAIN or LOGIN received, accepted or not.
    auth_logins: list[str] = field(default_factory=list)


XOAUTH2_ERROR = {"status": "401", "schemes": "bearer",
                 "scope": "https://outlook.office.com/SMTP.Send"}


def echo_lines(blob: str, decoded: bytes) -> list[str]:
    """What an echoing relay repeats of an AUTH argument, in the forms it may take."""
    text = decoded.replace(b"\0", b" ").replace(b"\x01", b" ").decode("utf-8", "replace")
    half = len(blob) // 2
    return [f"you sent {blob}", f"in two: {blob[:half]} {blob[half:]}",
            f"decoded: {text}", f"shouted: {text.upper()}", f"quoted: {quote(text)}"]


class RecordingHandler:
    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.received: list[Received] = []
        self.echo = ""

    def _echoed(self, reply: str) -> str:
        """`reply`, carrying the echo of an accepted AUTH when the relay echoes."""
        return f"{reply} ({self.echo})" if self.echo else reply

    async def handle_AUTH(self, server: SMTP, session: Session, envelope: Envelope,
                          args: list[str]) -> Any:
        """An echoing relay answers AUTH itself, repeating what it was sent."""
        if not self.behaviour.echo_auth:
            return MISSING
        mechanism = args[0].upper()
        blob = args[1] if len(args) > 1 else ""
        decoded = base64.b64decode(blob) if blob else b""
        accepted = False
        if mechanism == "LOGIN":
            password = await server.challenge_auth("Password:")
            if password is MISSING:
                return None
            assert isinstance(password, bytes)
            blob, decoded = base64.b64encode(password).decode(), decoded + b"\0" + password
            login = decoded.split(b"\0")[0].decode()
            accepted = self.behaviour.users.get(login) == password.decode()
        elif mechanism == "PLAIN":
            parts = decoded.split(b"\0")
            login = parts[1].decode() if len(parts) == 3 else ""
            accepted = len(parts) == 3 and self.behaviour.users.get(login) == parts[2].decode()
        elif mechanism == "XOAUTH2":
            fields = dict(part.split(b"=", 1) for part in decoded.split(b"\x01") if b"=" in part)
            login = fields.get(b"user", b"").decode()
            token = fields.get(b"auth", b"").decode().removeprefix("Bearer ")
            self.behaviour.xoauth2_attempts.append((login, token))
            accepted = token in (self.behaviour.xoauth2_tokens or ())
        else:
            return "504 5.5.4 Unrecognized authentication type"
        lines = echo_lines(blob, decoded)
        if accepted:
            session.authenticated = True
            session.auth_data = login  # type: ignore[assignment]
            self.echo = " ".join(lines)
            return "235 2.7.0 Authentication successful, " + self.echo
        return "\r\n".join([*(f"535-5.7.8 {line}" for line in lines),
                             "535 5.7.8 Authentication credentials invalid"])

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, mail_options: list[str]) -> str:
        if self.behaviour.reject_mail_from:
            return self.behaviour.reject_mail_from
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return self._echoed("250 OK")

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if self.behaviour.reject_rcpt:
            return self.behaviour.reject_rcpt
        envelope.rcpt_tos.append(address)
        return self._echoed("250 OK")

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.behaviour.data_commands += 1
        if self.behaviour.reject_data:
            return self.behaviour.reject_data
        login = str(session.auth_data) if session.authenticated else None
        self.received.append(Received(
            mail_from=str(envelope.mail_from),
            rcpt_tos=list(envelope.rcpt_tos),
            data=bytes(envelope.original_content or b""),
            login=login,
            tls=session.ssl is not None
            or (server.transport is not None
                and server.transport.get_extra_info("ssl_object") is not None),
        ))
        return self._echoed("250 2.0.0 Ok: queued as TESTQ123")

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        """RFC 7628-style XOAUTH2: a refused token gets a JSON error challenge, then 535."""
        if len(args) == 1:
            blob = await server.challenge_auth("", encode_to_b64=False)
            if blob is MISSING:
                return AuthResult(success=False, handled=True)
        else:
            try:
                blob = base64.b64decode(args[1], validate=True)
            except binascii.Error:
                await server.push("501 5.5.2 Can't decode base64")
                return AuthResult(success=False, handled=True)
        assert isinstance(blob, bytes)
        fields = dict(part.split(b"=", 1) for part in blob.split(b"\x01") if b"=" in part)
        user = fields.get(b"user", b"").decode()
        auth = fields.get(b"auth", b"").decode()
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else ""
        self.behaviour.xoauth2_attempts.append((user, token))
        if user and token in (self.behaviour.xoauth2_tokens or ()):
            return AuthResult(success=True, auth_data=user)
        await server.challenge_auth(json.dumps(XOAUTH2_ERROR))
        return AuthResult(success=False, handled=False)


class SmtpServer:
    """A real SMTP server: `mode` is "plain", "starttls" or "implicit"."""

    def __init__(self, loop: LoopThread, *, mode: str = "plain",
                 server_context: ssl.SSLContext | None = None,
                 behaviour: Behaviour | None = None, **smtp_kwargs: Any) -> None:
        self.loop = loop
        self.behaviour = behaviour or Behaviour()
        self.handler = RecordingHandler(self.behaviour)
        kwargs: dict[str, Any] = {"hostname": "mx.test", "auth_require_tls": False,
                                  "enable_SMTPUTF8": True}
        if self.behaviour.users:
            kwargs["authenticator"] = self._authenticate
        if mode == "starttls":
            kwargs["tls_context"] = server_context
        excluded = list(smtp_kwargs.pop("auth_exclude_mechanism", []))
        if self.behaviour.xoauth2_tokens is None:
            excluded.append("XOAUTH2")
        kwargs["auth_exclude_mechanism"] = excluded
        kwargs.update(smtp_kwargs)

        def factory() -> SMTP:
            return SMTP(self.handler, loop=loop.loop, **kwargs)

        ssl_ctx = server_context if mode == "implicit" else None
        self.server: asyncio.AbstractServer = loop.run(
            loop.loop.create_server(factory, "127.0.0.1", 0, ssl=ssl_ctx))
        self.port: int = self.server.sockets[0].getsockname()[1]

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def _authenticate(self, server: SMTP, session: Session, envelope: Envelope,
                      mechanism: str, auth_data: Any) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            login = auth_data.login.decode()
            self.behaviour.auth_logins.append(login)
            if self.behaviour.users.get(login) == auth_data.password.decode():
                return AuthResult(success=True, auth_data=login)
        return AuthResult(success=False, handled=False)

    def close(self) -> None:
        close_server(self.loop, self.server)


class ScriptedServer:
    """A TCP server whose connection handler is a coroutine the test writes."""

    def __init__(self, loop: LoopThread,
                 handle: Callable[[asyncio.StreamReader, asyncio.StreamWriter],
                                  Coroutine[Any, Any, None]],
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.loop = loop
        self.connections = 0

        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            try:
                await handle(reader, writer)
            except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
                pass
            finally:
                writer.close()

        self.server: asyncio.AbstractServer = loop.run(
            asyncio.start_server(on_connect, "127.0.0.1", 0, ssl=ssl_context))
        self.port: int = self.server.sockets[0].getsockname()[1]

    def close(self) -> None:
        close_server(self.loop, self.server)


def close_server(loop: LoopThread, server: asyncio.AbstractServer) -> None:
    """Close a server from the test thread: asyncio servers are not thread-safe."""

    async def close() -> None:
        server.close()

    loop.run(close())


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Accepts the connection and never says a word."""
    await reader.read()


def closed_port() -> int:
    """A port on 127.0.0.1 with nothing listening on it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
