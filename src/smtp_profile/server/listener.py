"""The HTTP server in front of the app: uvicorn speaking HTTP/1.1 with h11, guarded against
slow and greedy clients.

uvicorn bounds a request's header size (h11's limit) and closes idle keep-alive
connections, but it has no timeout for reading a request: a new connection arms no timer,
and the keep-alive timer stops at a request's first byte, so a client that dribbles one
header byte every few seconds holds its connection forever. Nor does it limit connections
per client. Its `http` setting takes a protocol class, so the guard is a small subclass
of uvicorn's own h11 protocol rather than another server: uvicorn and h11 still parse
and answer everything; the guard only

- closes a connection whose request (headers and body) has not fully arrived
  `request_read_timeout` seconds after the connection opened or the previous answer
  ended, and
- answers 429 and closes at once a connection from an address (an IPv6 client's /64)
  that already has `connections_per_address` open. Trusted proxies are exempt: every
  client behind one shares its address, and the proxy limits them itself.

`serve` and the test suite build the server with `server_config`, so the tests run the
guard the default start runs.
"""

from __future__ import annotations

import asyncio
import http
import ipaddress
import json
import logging
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from smtp_profile.domain.errors import ErrorKind
from smtp_profile.settings import Settings

log = logging.getLogger(__name__)

MAX_HEADER_BYTES = 16 * 1024
"""h11's limit on a request line plus headers (its default, stated here on purpose)."""
KEEP_ALIVE_SECONDS = 5
"""uvicorn closes a connection idle this long after an answer."""
REFUSAL_LINGER_SECONDS = 2.0
"""A refused connection is kept (reading nothing) at most this long for the client to
read the refusal and close."""

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ConnectionGuard:
    """Counts open connections per client address; one per server, used on its loop."""

    def __init__(self, per_address: int, exempt: Sequence[Network] = (),
                 exempt_all: bool = False) -> None:
        self.per_address = per_address
        self.exempt = tuple(exempt)
        self.exempt_all = exempt_all
        self.open: dict[str, int] = {}
        self._warned: set[str] = set()

    def key(self, host: str | None) -> str | None:
        """What a client is counted as, or None if it is not limited."""
        if host is None or self.per_address <= 0 or self.exempt_all:
            return None
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return None
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if any(address in network for network in self.exempt):
            return None
        if isinstance(address, ipaddress.IPv6Address):
            return str(ipaddress.IPv6Network((address, 64), strict=False))
        return str(address)

    def enter(self, key: str) -> bool:
        """Count one more connection from `key`; False (and no count) when it is at the
        limit. Each True is paired with one `leave`."""
        count = self.open.get(key, 0)
        if count >= self.per_address:
            if key not in self._warned:  # once per episode, not once per connection
                self._warned.add(key)
                log.warning("refusing connections from %s: it has %s open, the most one "
                            "address may (SMTP_PROFILE_CONNECTIONS_PER_ADDRESS)",
                            key, count)
            return False
        self.open[key] = count + 1
        return True

    def leave(self, key: str) -> None:
        count = self.open.get(key, 0) - 1
        if count > 0:
            self.open[key] = count
        else:
            self.open.pop(key, None)
            self._warned.discard(key)


def _refusal(retry_after: int) -> bytes:
    kind = ErrorKind.TOO_MANY_CONNECTIONS
    body = json.dumps({"ErrorCode": kind.code,
                       "Message": "This address has too many connections open to the "
                       "service; close some, or try again in "
                       f"{retry_after} seconds."}).encode()
    head = (f"HTTP/1.1 {kind.status} {http.HTTPStatus(kind.status).phrase}\r\n"
            "Content-Type: application/json\r\n"
            f"Retry-After: {retry_after}\r\n"
            "Connection: close\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode("ascii") + body


def guarded_protocol(guard: ConnectionGuard, read_timeout: float) -> type[asyncio.Protocol]:
    """uvicorn's h11 protocol with a deadline on reading each request and `guard`'s
    per-address limit."""
    refusal = _refusal(max(KEEP_ALIVE_SECONDS, math.ceil(read_timeout)))
    linger = min(read_timeout, REFUSAL_LINGER_SECONDS)

    class GuardedH11Protocol(H11Protocol):
        _counted_as: str | None = None
        _refused = False
        _deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            key = guard.key(self.client[0] if self.client else None)
            if key is not None:
                if not guard.enter(key):
                    self._refuse()
                    return
                self._counted_as = key
            self._watch_request()

        def _refuse(self) -> None:
            """Answer 429 and close. Closing at once would make the kernel answer the
            request bytes already on their way with a reset, which can destroy the
            answer before the client reads it; so the sending side closes now, what the
            client sends is discarded, and the connection ends when the client closes
            it or after a short linger."""
            self._refused = True
            self.transport.write(refusal)
            if self.transport.can_write_eof():
                self.transport.write_eof()
            self._deadline = self.loop.call_later(linger, self.transport.close)

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_watch()
            if self._counted_as is not None:
                guard.leave(self._counted_as)
                self._counted_as = None
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self._refused:
                return
            super().data_received(data)
            self._watch_request()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._watch_request()

        def _watch_request(self) -> None:
            """Keep a deadline while a request is awaited or partly read, none otherwise
            (while the app works on a complete request, or once the connection closes)."""
            reading = (self.conn.their_state in (h11.IDLE, h11.SEND_BODY)
                       and not self.transport.is_closing())
            if not reading:
                self._stop_watch()
            elif self._deadline is None:
                self._deadline = self.loop.call_later(read_timeout, self._too_slow)

        def _stop_watch(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _too_slow(self) -> None:
            self._deadline = None
            log.debug("closing the connection from %s: no complete request within %g s",
                      self.client[0] if self.client else "?", read_timeout)
            self.transport.close()

    return GuardedH11Protocol


def _networks(proxies: Sequence[str]) -> tuple[list[Network], bool]:
    networks: list[Network] = []
    every = False
    for item in proxies:
        if item == "*":
            every = True
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            continue  # not an address (uvicorn also accepts socket paths): no TCP peer
    return networks, every


def server_config(app: Callable[..., Any], settings: Settings, *, host: str = "127.0.0.1",
                  port: int = 8080, log_level: str = "info", access_log: bool = False,
                  trusted_proxies: Sequence[str] = (), ssl_certfile: Path | None = None,
                  ssl_keyfile: Path | None = None,
                  lifespan: Literal["on", "off"] = "on") -> uvicorn.Config:
    """The uvicorn configuration `serve` runs (and the tests run): h11 with the guard,
    no Server header, forwarded headers only from `trusted_proxies`, TLS if given, and
    the access log only when asked for (`--access-log`)."""
    exempt, exempt_all = _networks(trusted_proxies)
    guard = ConnectionGuard(settings.connections_per_address, exempt, exempt_all)
    return uvicorn.Config(
        app, host=host, port=port, log_level=log_level, access_log=access_log,
        lifespan=lifespan,
        http=guarded_protocol(guard, settings.request_read_timeout), ws="none",
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        timeout_keep_alive=KEEP_ALIVE_SECONDS, server_header=False,
        proxy_headers=bool(trusted_proxies), forwarded_allow_ips=list(trusted_proxies) or None,
        ssl_certfile=str(ssl_certfile) if ssl_certfile else None,
        ssl_keyfile=str(ssl_keyfile) if ssl_keyfile else None,
    )
