"""Second looks after a failure, so hints rest on evidence rather than guesses.

Each probe opens a fresh connection to the address that was used, does one small thing
(read a greeting, try a TLS handshake, fetch a certificate without trusting it) and
closes. Probes never authenticate and never send mail; they are bounded by a timeout.
"""

from __future__ import annotations

import asyncio
import re
import ssl

import aiosmtplib

from smtp_profile.mailer.connection import RelayConnection
from smtp_profile.mailer.resolver import ResolvedAddress
from smtp_profile.mailer.tls import peer_der

SMTP_GREETING = re.compile(rb"^220[ -]")


async def greets_in_plain_text(address: ResolvedAddress, seconds: float) -> bool | None:
    """True if the port greets like an SMTP server without TLS; None if it said nothing."""
    try:
        connection = await RelayConnection.open(address, seconds)
    except (OSError, TimeoutError):
        return None
    async with connection:
        try:
            reader, _writer = await connection.streams()
            first = await asyncio.wait_for(reader.read(512), seconds)
        except (OSError, TimeoutError):
            return None
    if not first:
        return None
    return bool(SMTP_GREETING.match(first))


async def speaks_tls(address: ResolvedAddress, server_hostname: str, seconds: float) -> bool:
    """True if a TLS handshake succeeds on the port (trusting nothing, sending nothing)."""
    try:
        connection = await RelayConnection.open(address, seconds)
    except (OSError, TimeoutError):
        return False
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    async with connection:
        try:
            await asyncio.wait_for(connection.streams(tls=context,
                                                      server_hostname=server_hostname,
                                                      handshake_seconds=seconds), seconds)
        except (OSError, TimeoutError, ssl.SSLError):
            return False
    return True


async def fetch_certificate(address: ResolvedAddress, server_hostname: str, *,
                            implicit: bool, context: ssl.SSLContext, local_hostname: str,
                            seconds: float) -> bytes | None:
    """The relay's certificate (DER) through a handshake that verifies nothing."""
    try:
        connection = await RelayConnection.open(address, seconds)
    except (OSError, TimeoutError):
        return None
    async with connection:
        smtp = connection.smtp(hostname=server_hostname, use_tls=implicit,
                               tls_context=context, timeout=seconds,
                               local_hostname=local_hostname)
        try:
            await smtp.connect()
            if not implicit:
                await smtp.starttls()
            transport = smtp.transport
            return peer_der(transport.get_extra_info("ssl_object") if transport else None)
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            return None


async def port_answer(address: ResolvedAddress, port: int, seconds: float) -> str:
    """What `port` at `address` says to a bare TCP connection (nothing is sent):
    `answers`, `refused`, `silent` (no answer within `seconds`), or the system's reason."""
    target = ResolvedAddress(address.family, (address.ip, port, *address.sockaddr[2:]))
    try:
        connection = await RelayConnection.open(target, seconds)
    except ConnectionRefusedError:
        return "refused"
    except TimeoutError:
        return "silent"
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    connection.close()
    return "answers"


async def other_ports(addresses: list[ResolvedAddress], ports: list[int],
                      seconds: float) -> list[tuple[str, int, str]]:
    """Every (address, port) pair tried at once, so the whole probe takes `seconds` at
    most: (ip, port, what it said), in the order given."""
    pairs = [(address, port) for address in addresses for port in ports]
    results = await asyncio.gather(*(port_answer(a, p, seconds) for a, p in pairs))
    return [(a.ip, p, result) for (a, p), result in zip(pairs, results, strict=True)]
