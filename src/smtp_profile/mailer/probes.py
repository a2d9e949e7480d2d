"""Second looks after a failure, so hints rest on evidence rather than guesses.

Each probe opens a fresh connection to the address that was used, does one small thing
(read a greeting, try a TLS handshake, fetch a certificate without trusting it) and
closes. Probes never authenticate and never send mail; they are bounded by a timeout.
"""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
from contextlib import suppress

import aiosmtplib

from smtp_profile.mailer.resolver import ResolvedAddress
from smtp_profile.mailer.tls import peer_der

SMTP_GREETING = re.compile(rb"^220[ -]")


async def _open(address: ResolvedAddress, seconds: float) -> socket.socket:
    sock = socket.socket(address.family, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, address.sockaddr),
                               seconds)
    except BaseException:
        sock.close()
        raise
    return sock


async def greets_in_plain_text(address: ResolvedAddress, seconds: float) -> bool | None:
    """True if the port greets like an SMTP server without TLS; None if it said nothing."""
    try:
        sock = await _open(address, seconds)
    except (OSError, TimeoutError):
        return None
    try:
        reader, writer = await asyncio.open_connection(sock=sock)
        try:
            first = await asyncio.wait_for(reader.read(512), seconds)
        finally:
            writer.close()
    except (OSError, TimeoutError):
        return None
    if not first:
        return None
    return bool(SMTP_GREETING.match(first))


async def speaks_tls(address: ResolvedAddress, server_hostname: str, seconds: float) -> bool:
    """True if a TLS handshake succeeds on the port (trusting nothing, sending nothing)."""
    try:
        sock = await _open(address, seconds)
    except (OSError, TimeoutError):
        return False
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        _reader, writer = await asyncio.wait_for(
            asyncio.open_connection(sock=sock, ssl=context, server_hostname=server_hostname,
                                    ssl_handshake_timeout=seconds),
            seconds,
        )
    except (OSError, TimeoutError, ssl.SSLError):
        sock.close()
        return False
    writer.close()
    return True


async def fetch_certificate(address: ResolvedAddress, server_hostname: str, *,
                            implicit: bool, context: ssl.SSLContext, local_hostname: str,
                            seconds: float) -> bytes | None:
    """The relay's certificate (DER) through a handshake that verifies nothing."""
    try:
        sock = await _open(address, seconds)
    except (OSError, TimeoutError):
        return None
    smtp = aiosmtplib.SMTP(hostname=server_hostname, sock=sock, use_tls=implicit,
                           start_tls=False, tls_context=context, timeout=seconds,
                           local_hostname=local_hostname)
    try:
        await smtp.connect()
        if not implicit:
            await smtp.starttls()
        transport = smtp.transport
        return peer_der(transport.get_extra_info("ssl_object") if transport else None)
    except (aiosmtplib.SMTPException, OSError, TimeoutError):
        return None
    finally:
        with suppress(Exception):
            smtp.close()
        sock.close()
