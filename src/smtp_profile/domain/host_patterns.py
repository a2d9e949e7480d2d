"""Host name patterns, `name` or `*.name`, and the two ways this service reads the `*`.

An operator's allowlist (the outbound hosts, the test recipients' domains) means by
`*.example` every name below `example`, at any depth, but not `example` itself. A
certificate's name means by it exactly one left-most label, and only with two labels
after it (RFC 6125, section 6.4.3), so `*.example.com` covers `a.example.com` but not
`a.b.example.com`, and `*.com` covers nothing. Which reading applies is the caller's
explicit choice, so neither can borrow the other's by accident.
"""

from __future__ import annotations

from enum import Enum


class Wildcard(Enum):
    SUBDOMAINS = "every name below the pattern's domain, at any depth"
    ONE_LABEL = "exactly one left-most label, with two labels after it (RFC 6125)"


def host_matches(pattern: str, host: str, *, wildcard: Wildcard) -> bool:
    """Whether `host` is `pattern` or a name its `*.` covers, read as `wildcard` says.

    Both come normalized by the caller (lower case, no trailing dot, IDNA A-labels).
    """
    if host == pattern:
        return True
    if not pattern.startswith("*."):
        return False
    if wildcard is Wildcard.SUBDOMAINS:
        return host.endswith(pattern[1:])
    return "." in host and host.split(".", 1)[1] == pattern[2:] and pattern.count(".") >= 2
