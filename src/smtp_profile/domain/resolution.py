"""A name lookup's result as a value: what the outbound policy judges and the test
connects to, so the use cases can hold one without knowing how it was looked up."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ResolvedAddress:
    family: socket.AddressFamily
    sockaddr: tuple[Any, ...]

    @property
    def ip(self) -> str:
        return str(self.sockaddr[0])


@dataclass(frozen=True)
class Resolution:
    """A lookup done ahead of the conversation, so a policy can judge the very addresses
    that will be connected to (a second lookup could answer differently)."""

    host: str
    addresses: list[ResolvedAddress]
    error: OSError | None
    duration_ms: float
