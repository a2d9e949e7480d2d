"""Which recipients a test message may go to: an optional operator allowlist of domains.

Without it, anyone with the modify permission can make the relay deliver a message to
any address, which turns the Test route into a small spam or phishing relay.
"""

from __future__ import annotations

from dataclasses import dataclass

from smtp_profile.domain.addresses import ascii_host


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
        domain = recipient.rpartition("@")[2]
        try:
            name = ascii_host(domain.strip("[]"))
        except ValueError:
            name = domain.lower()
        for pattern in self.domains:
            if name == pattern or (pattern.startswith("*.") and name.endswith(pattern[1:])):
                return None
        return (f"test messages may only go to {', '.join(self.domains)}; "
                f"{domain} is not among them")
