"""Name resolution behind a small interface, so tests can fail it without real DNS."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class ResolvedAddress:
    family: socket.AddressFamily
    sockaddr: tuple[Any, ...]

    @property
    def ip(self) -> str:
        return str(self.sockaddr[0])


class Resolver(Protocol):
    """Turns a host name (or IP literal) into addresses to connect to, in order."""

    async def resolve(self, host: str, port: int) -> list[ResolvedAddress]:
        """Raise socket.gaierror when the name does not resolve."""
        ...


class SystemResolver:
    """The operating system's resolver, run off the event loop by asyncio."""

    async def resolve(self, host: str, port: int) -> list[ResolvedAddress]:
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
