"""One owner for a relay connection's whole life: the socket, the SMTP client on it, and
every transport asyncio builds on it.

Why it exists: asyncio registers each transport under its socket's file descriptor until
the transport is closed, and a TLS transport closed politely waits up to 30 s for the
peer's close_notify before it lets go. Closing the socket underneath such a transport
frees the descriptor number while the loop still counts it as taken; the next socket that
gets the same number then fails with "File descriptor N is used by transport". One test
that failed after TLS used to break every later test that way.

So the rule here: a transport is never closed politely and a socket is never closed under
a live transport. `close()` aborts every transport built on the socket (at once, no TLS
shutdown: a test has nothing left to say) and only then closes the socket. Everything that
talks to a relay (the conversation and the probes) opens its connection through this class.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from types import TracebackType
from typing import Any

import aiosmtplib

from smtp_profile.mailer.resolver import ResolvedAddress

__all__ = ["RelayConnection"]


class _OwnedSMTP(aiosmtplib.SMTP):
    """aiosmtplib's client, with its close turned into an abort that its owner sees.

    aiosmtplib closes its own transport on many errors and then forgets it; this hands
    the transport to the owner first, so it can never linger unseen.
    """

    def __init__(self, owner: RelayConnection, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._owner = owner

    def close(self) -> None:
        transport = self.transport
        if transport is not None:
            self._owner.adopt(transport)
            _abort(transport)
        super().close()


class RelayConnection:
    """A TCP connection to one relay address, and everything layered on it."""

    def __init__(self, sock: socket.socket, address: ResolvedAddress) -> None:
        self.sock = sock
        self.address = address
        self._transports: list[asyncio.BaseTransport] = []
        self._smtp: _OwnedSMTP | None = None
        self._closed = False

    @classmethod
    async def open(cls, address: ResolvedAddress, seconds: float) -> RelayConnection:
        """Connect to `address` within `seconds`; raises OSError or TimeoutError."""
        sock = socket.socket(address.family, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            await asyncio.wait_for(
                asyncio.get_running_loop().sock_connect(sock, address.sockaddr), seconds)
        except BaseException:
            sock.close()
            raise
        return cls(sock, address)

    def smtp(self, **kwargs: Any) -> aiosmtplib.SMTP:
        """The SMTP client that will speak on this connection (one per connection)."""
        if self._smtp is not None:
            raise RuntimeError("this connection already has its SMTP client")
        self._smtp = _OwnedSMTP(self, sock=self.sock, start_tls=False, **kwargs)
        return self._smtp

    async def streams(self, *, tls: ssl.SSLContext | None = None,
                      server_hostname: str | None = None,
                      handshake_seconds: float | None = None,
                      ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Plain asyncio streams on the connection (for probes), TLS if `tls` is given."""
        reader, writer = await asyncio.open_connection(
            sock=self.sock, ssl=tls, server_hostname=server_hostname if tls else None,
            ssl_handshake_timeout=handshake_seconds if tls else None)
        self.adopt(writer.transport)
        return reader, writer

    def adopt(self, transport: asyncio.BaseTransport) -> None:
        """Take a transport built on this connection's socket into the owner's care."""
        if transport not in self._transports:
            self._transports.append(transport)
        if self._closed:
            _abort(transport)

    def close(self) -> None:
        """Abort every transport, then close the socket; safe to call more than once."""
        self._closed = True
        if self._smtp is not None:
            self._smtp.close()
        for transport in self._transports:
            _abort(transport)
        self.sock.close()

    async def __aenter__(self) -> RelayConnection:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def _abort(transport: asyncio.BaseTransport) -> None:
    """Drop a transport now. A TLS transport's abort aborts the TCP one beneath it."""
    if isinstance(transport, asyncio.WriteTransport):
        transport.abort()
    else:
        transport.close()
