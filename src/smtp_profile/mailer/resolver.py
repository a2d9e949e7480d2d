"""Name resolution behind a small interface, so tests can fail it without real DNS."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Protocol

# The values live in the domain (the use cases hold them); named here too, for the
# mailer's modules that look names up.
from smtp_profile.domain.resolution import Resolution as Resolution
from smtp_profile.domain.resolution import ResolvedAddress as ResolvedAddress


class Resolver(Protocol):
    """Turns a host name (or IP literal) into addresses to connect to, in order."""

    async def resolve(self, host: str, port: int) -> list[ResolvedAddress]:
        """Raise socket.gaierror when the name does not resolve."""
        ...


class SystemResolver:
    """The operating system's resolver, run off the event loop by asyncio."""

    async def resolve(self, host: str, port: int) -> list[ResolvedAddress]:
        try:  # an IP literal needs no lookup, nor a trip to the executor's thread
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                       proto=socket.IPPROTO_TCP, flags=socket.AI_NUMERICHOST)
        except (socket.gaierror, UnicodeError):
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
            )
        seen: set[tuple[object, ...]] = set()
        addresses: list[ResolvedAddress] = []
        for family, _type, _proto, _canon, sockaddr in infos:
            if sockaddr in seen or family not in (socket.AF_INET, socket.AF_INET6):
                continue
            seen.add(sockaddr)
            addresses.append(ResolvedAddress(socket.AddressFamily(family), tuple(sockaddr)))
        return addresses


async def resolve_once(resolver: Resolver, host: str, port: int, seconds: float) -> Resolution:
    started = time.perf_counter()
    try:
        # asyncio.timeout, not wait_for: no task of its own for what is, for an IP
        # literal, an answer at once (wait_for's task and its turn of the loop cost more
        # than the look-up, on every Test).
        async with asyncio.timeout(seconds):
            addresses = await resolver.resolve(host, port)
        error: OSError | None = None
    except TimeoutError:
        addresses, error = [], socket.gaierror(socket.EAI_AGAIN, "the lookup timed out")
    except OSError as exc:
        addresses, error = [], exc
    return Resolution(host, addresses, error, round((time.perf_counter() - started) * 1000, 1))
