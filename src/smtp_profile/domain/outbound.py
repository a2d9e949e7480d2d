"""Where Test and Diagnose may connect: the operator's outbound policy.

Test makes the service open a connection to a host and port its caller names, which an
attacker with the modify permission could aim at internal services. The policy decides
on the resolved addresses (not the name), so a name cannot smuggle in a forbidden
address. Link-local networks (cloud metadata services live there) are refused unless
the operator allows them explicitly; loopback stays allowed, since a local relay is common.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_PORTS = "25,465,587,2525,1025-65535"
LINK_LOCAL = (ipaddress.ip_network("169.254.0.0/16"), ipaddress.ip_network("fe80::/10"))


class PolicyError(ValueError):
    """An operator setting that cannot be parsed, with the offending part."""


def parse_ports(text: str) -> frozenset[int]:
    """`25,465,1025-65535` -> the set of ports; raises PolicyError."""
    ports: set[int] = set()
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        low, dash, high = part.partition("-")
        try:
            first, last = int(low), int(high) if dash else int(low)
        except ValueError:
            raise PolicyError(f"{part!r} is not a port or a range like 1025-65535") from None
        if not 1 <= first <= last <= 65535:
            raise PolicyError(f"{part!r} is outside 1-65535")
        ports.update(range(first, last + 1))
    return frozenset(ports)


def parse_targets(text: str) -> tuple[tuple[Network, ...], tuple[str, ...]]:
    """Networks (CIDR or single addresses) and host names, comma-separated."""
    networks: list[Network] = []
    names: list[str] = []
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            if not all(c.isalnum() or c in "-._*" for c in part):
                raise PolicyError(f"{part!r} is neither a network nor a host name") from None
            names.append(part.lower().rstrip("."))
    return tuple(networks), tuple(names)


@dataclass(frozen=True)
class OutboundPolicy:
    """Empty `networks` and `names` mean any host (subject to the link-local rule)."""

    ports: frozenset[int] = field(default_factory=lambda: parse_ports(DEFAULT_PORTS))
    networks: tuple[Network, ...] = ()
    names: tuple[str, ...] = ()
    allow_link_local: bool = False
    own_ports: frozenset[int] = frozenset()

    def refusal(self, host: str, port: int, addresses: Iterable[str]) -> str | None:
        """Why connecting to `host`:`port` (resolved to `addresses`) is refused, or None."""
        if port in self.own_ports:
            return f"port {port} is this service's own port"
        if port not in self.ports:
            return f"port {port} is not among the ports tests may use"
        return self.address_refusal(host, addresses)

    def address_refusal(self, host: str, addresses: Iterable[str]) -> str | None:
        """The host rules alone, for connections whose port is not the operator's to
        choose (an OAuth token endpoint's https port)."""
        for text in addresses:
            address = ipaddress.ip_address(text.split("%", 1)[0])
            reason = self._address_refusal(host, address)
            if reason is not None:
                return reason
        return None

    def _address_refusal(self, host: str, address: Address) -> str | None:
        if not self.allow_link_local and any(address in n for n in LINK_LOCAL
                                             if n.version == address.version):
            return (f"{address} is a link-local address (cloud metadata services live there) "
                    "and link-local targets are not allowed")
        if not self.networks and not self.names:
            return None
        if any(address.version == n.version and address in n for n in self.networks):
            return None
        if any(_name_matches(pattern, host) for pattern in self.names):
            return None
        return f"{host} ({address}) is not among the hosts and networks tests may reach"


def _name_matches(pattern: str, host: str) -> bool:
    host = host.lower().rstrip(".")
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return host == pattern
