"""A resolver that knows a few test names, all pointing at loopback; no real DNS.

`answer_in_turn` makes a name answer differently from one lookup to the next (a failure,
a lookup that never ends, other addresses), as a rebinding DNS server would: a test then
proves the service looks each name up once and connects to what it judged.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence

from smtp_profile.mailer.resolver import ResolvedAddress

HANG = "hang"
"""An answer that never comes: the lookup runs into the service's timeout."""

Answer = list[str] | OSError | str


class StaticResolver:
    def __init__(self, names: dict[str, list[str]], *,
                 non_loopback_to_refuse: bool = False) -> None:
        """`non_loopback_to_refuse`: the test may hand out addresses beyond loopback, to
        check they are refused before any connection (never to connect to them)."""
        self.non_loopback_to_refuse = non_loopback_to_refuse
        for addresses in names.values():
            self._check(addresses)
        self.names = {name.lower(): addresses for name, addresses in names.items()}
        self.turns: dict[str, list[Answer]] = {}
        self.queries: list[str] = []

    def _check(self, addresses: Sequence[str]) -> None:
        for address in addresses:
            assert self.non_loopback_to_refuse or ipaddress.ip_address(address).is_loopback, \
                "tests talk to loopback only"

    def answer_in_turn(self, name: str, *answers: Answer) -> None:
        """Answer lookups of `name` with `answers` in order, the last one from then on."""
        for answer in answers:
            if isinstance(answer, list):
                self._check(answer)
        self.turns[name.lower()] = list(answers)

    async def resolve(self, host: str, port: int) -> list[ResolvedAddress]:
        self.queries.append(host)
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            addresses = [str(literal)]
        elif host.lower() in self.turns:
            turns = self.turns[host.lower()]
            answer = turns.pop(0) if len(turns) > 1 else turns[0]
            if isinstance(answer, OSError):
                raise answer
            if answer == HANG:
                await asyncio.Event().wait()
            assert isinstance(answer, list)
            addresses = answer
        elif host.lower() in self.names:
            addresses = self.names[host.lower()]
        else:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            ResolvedAddress(socket.AF_INET6, (a, port, 0, 0)) if ":" in a
            else ResolvedAddress(socket.AF_INET, (a, port))
            for a in addresses
        ]

    def count(self, name: str) -> int:
        """How often `name` was looked up."""
        return sum(1 for query in self.queries if query.lower() == name.lower())
