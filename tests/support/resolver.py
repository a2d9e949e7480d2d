"""A resolver that knows a few test names, all pointing at loopback; no real DNS."""

from __future__ import annotations

import ipaddress
import socket

from smtp_profile.mailer.resolver import ResolvedAddress


class StaticResolver:
    def __init__(self, names: dict[str, list[str]]) -> None:
        for addresses in names.values():
            for address in addresses:
                assert ipaddress.ip_address(address).is_loopback, "tests talk to loopback only"
        self.names = {name.lower(): addresses for name, addresses in names.items()}
        self.queries: list[str] = []

    async def resolve(self, host: str, port: int) -> list[ResolvedAddress]:
        self.queries.append(host)
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            addresses = [str(literal)]
        elif host.lower() in self.names:
            addresses = self.names[host.lower()]
        else:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            ResolvedAddress(socket.AF_INET6, (a, port, 0, 0)) if ":" in a
            else ResolvedAddress(socket.AF_INET, (a, port))
            for a in addresses
        ]
