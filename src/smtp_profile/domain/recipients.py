"""Which recipients a test message may go to: an optional operator allowlist of domains.

Without it, anyone with the modify permission can make the relay deliver a message to
any address, which turns the Test route into a small spam or phishing relay. The domain
after the last @ is only where the message goes if the relay does not route on the local
part: many still honour `x%other.example@corp.example` (the percent hack) and
`other.example!x@corp.example` (bang paths), and a quoted `"x@other.example"` is an
address of its own to some of them. With an allowlist, such recipients are refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from smtp_profile.domain.addresses import ascii_host
from smtp_profile.domain.host_patterns import Wildcard, host_matches


def parse_domains(text: str) -> tuple[str, ...]:
    """`corp.example, *.corp.example` -> the normalized (IDNA, lower-case) patterns."""
    patterns: list[str] = []
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        wildcard = part.startswith("*.")
        name = ascii_host(part[2:] if wildcard else part)
        patterns.append(f"*.{name}" if wildcard else name)
    return tuple(patterns)


@dataclass(frozen=True)
class RecipientPolicy:
    """Empty `domains` means any recipient; `*.example` matches subdomains only."""

    domains: tuple[str, ...] = ()

    def refusal(self, recipient: str) -> str | None:
        if not self.domains:
            return None
        local, _, domain = recipient.rpartition("@")
        routed = _routing_in(local)
        if routed is not None:
            return (f"test messages may only go to {', '.join(self.domains)}; {recipient} "
                    f"holds {routed} before the @, which a relay may use to deliver to "
                    "another domain")
        try:
            name = ascii_host(domain.strip("[]"))
        except ValueError:
            name = domain.lower()
        if any(host_matches(p, name, wildcard=Wildcard.SUBDOMAINS) for p in self.domains):
            return None
        return (f"test messages may only go to {', '.join(self.domains)}; "
                f"{domain} is not among them")


def _routing_in(local: str) -> str | None:
    """What in a local part can route elsewhere: '%', '!' or '@' (quoted or escaped)."""
    if local.startswith('"') and local.endswith('"') and len(local) >= 2:
        local = re.sub(r"\\(.)", r"\1", local[1:-1])
    for mark, name in (("@", "an '@'"), ("%", "a '%' (percent-hack routing)"),
                       ("!", "a '!' (a UUCP bang path)")):
        if mark in local:
            return name
    return None
