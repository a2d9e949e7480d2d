"""Where Test and Diagnose may connect: the operator's outbound policy.

Test makes the service open a connection to a host and port its caller names, which an
attacker with the modify permission could aim at internal services. The policy decides
on the resolved addresses (not the name), so a name cannot smuggle in a forbidden
address. An IPv6 address that carries an IPv4 one (IPv4-mapped, IPv4-compatible, NAT64,
6to4, Teredo) is judged as the IPv4 address it reaches. Link-local networks are refused
unless the operator allows them explicitly, the well-known cloud metadata addresses always;
loopback stays allowed, since a local relay is common.
"""

from __future__ import annotations

import bisect
import ipaddress
import re
from collections.abc import Iterable, Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

from smtp_profile.domain.host_patterns import Wildcard, host_matches

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_PORTS = "25,465,587,2525,1025-65535"
DEFAULT_TOKEN_PORTS = "443"  # noqa: S105 - port numbers, not a secret
LINK_LOCAL = (ipaddress.ip_network("169.254.0.0/16"), ipaddress.ip_network("fe80::/10"))
NAT64 = ipaddress.ip_network("64:ff9b::/96")
"""RFC 6052's well-known prefix: the last 32 bits are the IPv4 address reached."""
UNSPECIFIED = (ipaddress.ip_network("0.0.0.0/8"), ipaddress.ip_network("::/128"))
"""`0.0.0.0` (and "this network") and `::`: a connection there reaches this machine."""
CLOUD_METADATA: dict[Address, str] = {
    ipaddress.ip_address(text): who for text, who in (
        ("169.254.169.254", "AWS, Azure, Google Cloud, OpenStack, Oracle and others"),
        ("169.254.170.2", "AWS ECS task metadata and credentials"),
        ("169.254.170.23", "AWS EKS Pod Identity"),
        ("fd00:ec2::254", "AWS (IPv6)"),
        ("fd00:ec2::23", "AWS EKS Pod Identity (IPv6)"),
        ("fd20:ce::254", "Google Cloud (IPv6)"),
        ("fe80::a9fe:a9fe", "OpenStack (IPv6)"),
        ("100.100.100.200", "Alibaba Cloud"),
        ("168.63.129.16", "Azure WireServer"),
        ("192.0.0.192", "Oracle Cloud (classic)"),
    )
}
"""Cloud metadata and credential services: refused whatever the operator allows, since no
relay or token endpoint lives there and they hand out the machine's cloud credentials."""


class PolicyError(ValueError):
    """An operator setting that cannot be parsed, with the offending part."""


class PortRanges(AbstractSet[int]):
    """A set of ports kept as sorted, disjoint ranges: `1025-65535` is one pair, not 64,511
    int objects in a hash table (about 4 MB that the default policy would hold for the
    life of the process). Compares equal to any set of the same ports."""

    __slots__ = ("_firsts", "_ranges")

    def __init__(self, ranges: Iterable[tuple[int, int]] = ()) -> None:
        merged: list[tuple[int, int]] = []
        for first, last in sorted(ranges):
            if merged and first <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(merged[-1][1], last))
            else:
                merged.append((first, last))
        self._ranges = tuple(merged)
        self._firsts = tuple(first for first, _ in merged)

    def __contains__(self, port: object) -> bool:
        if not isinstance(port, int):
            return False
        index = bisect.bisect_right(self._firsts, port) - 1
        return index >= 0 and port <= self._ranges[index][1]

    def __iter__(self) -> Iterator[int]:
        for first, last in self._ranges:
            yield from range(first, last + 1)

    def __len__(self) -> int:
        return sum(last - first + 1 for first, last in self._ranges)

    def __hash__(self) -> int:
        return hash(self._ranges)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PortRanges):
            return self._ranges == other._ranges
        return super().__eq__(other)

    def __repr__(self) -> str:
        return "PortRanges(" + ",".join(
            str(first) if first == last else f"{first}-{last}"
            for first, last in self._ranges) + ")"


def parse_ports(text: str) -> PortRanges:
    """`25,465,1025-65535` (or `465 587`) -> the set of ports; raises PolicyError.

    The grammar of every port setting: ports and ranges, separated by commas or spaces.
    """
    ranges: list[tuple[int, int]] = []
    for part in re.sub(r"\s*-\s*", "-", text).replace(",", " ").split():
        low, dash, high = part.partition("-")
        try:
            first, last = int(low), int(high) if dash else int(low)
        except ValueError:
            raise PolicyError(f"{part!r} is not a port or a range like 1025-65535") from None
        if not 1 <= first <= last <= 65535:
            raise PolicyError(f"{part!r} is outside 1-65535")
        ranges.append((first, last))
    return PortRanges(ranges)


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

    ports: AbstractSet[int] = field(default_factory=lambda: parse_ports(DEFAULT_PORTS))
    networks: tuple[Network, ...] = ()
    names: tuple[str, ...] = ()
    allow_link_local: bool = False
    own_ports: AbstractSet[int] = frozenset()
    token_ports: AbstractSet[int] = field(default_factory=lambda: parse_ports(DEFAULT_TOKEN_PORTS))
    """Ports an https token endpoint may use."""
    token_http_ports: AbstractSet[int] = frozenset()
    """Ports a plain-http token endpoint (loopback only) may use; none by default."""

    def refusal(self, host: str, port: int, addresses: Iterable[str]) -> str | None:
        """Why connecting to `host`:`port` (resolved to `addresses`) is refused, or None."""
        if port in self.own_ports:
            return f"port {port} is this service's own port"
        if port not in self.ports:
            return f"port {port} is not among the ports tests may use"
        return self.address_refusal(host, addresses)

    def token_endpoint_refusal(self, scheme: str, host: str, port: int,
                               addresses: Iterable[str]) -> str | None:
        """Why posting a client secret to this token endpoint is refused, or None.

        https goes to the operator's token endpoint ports; plain http only to loopback
        addresses and only on ports the operator lists; never to this service's own port.
        """
        if port in self.own_ports:
            return f"port {port} is this service's own port"
        if scheme == "http":
            if port not in self.token_http_ports:
                return (f"plain http token endpoints may only use the ports the operator "
                        f"lists for them (SMTP_PROFILE_TOKEN_ENDPOINT_HTTP_PORTS), and port "
                        f"{port} is not among them")
            for text in addresses:
                address = carried(_parse(text))
                if not address.is_loopback:
                    return (f"{host} ({text}) is not a loopback address; plain http token "
                            "endpoints must be on this machine")
        elif port not in self.token_ports:
            return (f"port {port} is not among the ports token endpoints may use "
                    "(SMTP_PROFILE_TOKEN_ENDPOINT_PORTS)")
        return self.address_refusal(host, addresses)

    def address_refusal(self, host: str, addresses: Iterable[str]) -> str | None:
        """The host rules alone: each address judged as what it reaches."""
        for text in addresses:
            reason = self._address_refusal(host, text, _parse(text))
            if reason is not None:
                return reason
        return None

    def _address_refusal(self, host: str, text: str, original: Address) -> str | None:
        address = carried(original)
        shown = text if str(address) == text.split("%", 1)[0] else f"{text} (that is, {address})"
        who = CLOUD_METADATA.get(address)
        if who is not None:
            return f"{shown} is a cloud metadata address ({who}) and is never a target"
        if any(address in n for n in UNSPECIFIED if n.version == address.version):
            return f"{shown} is an unspecified address and is never a target"
        if not self.allow_link_local and any(address in n for n in LINK_LOCAL
                                             if n.version == address.version):
            return (f"{shown} is a link-local address (cloud metadata services live there) "
                    "and link-local targets are not allowed")
        if not self.networks and not self.names:
            return None
        if any(a.version == n.version and a in n for n in self.networks
               for a in {original, address}):
            return None
        name = host.lower().rstrip(".")
        if any(host_matches(p, name, wildcard=Wildcard.SUBDOMAINS) for p in self.names):
            return None
        return f"{host} ({shown}) is not among the hosts and networks tests may reach"


def _parse(text: str) -> Address:
    """An address as a resolver gives it (an IPv6 scope like `%eth0` is dropped)."""
    return ipaddress.ip_address(text.split("%", 1)[0])


def carried(address: Address) -> Address:
    """The IPv4 address an IPv6 address reaches, if it carries one; else itself.

    IPv4-mapped (`::ffff:a.b.c.d`) and IPv4-compatible (`::a.b.c.d`) addresses reach the
    IPv4 address on this machine's own stack; NAT64 (`64:ff9b::/96`), 6to4 (`2002::/16`)
    and Teredo (`2001::/32`) addresses reach it through a translator or relay.
    """
    if isinstance(address, ipaddress.IPv4Address):
        return address
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if int(address) >> 32 == 0 and int(address) > 1:  # ::a.b.c.d, not :: or ::1
        return ipaddress.IPv4Address(int(address))
    return address
