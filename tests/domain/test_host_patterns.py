"""The two readings of `*.` in a host pattern: an operator's allowlist and a certificate."""

from __future__ import annotations

import pytest

from smtp_profile.domain.host_patterns import Wildcard, host_matches


@pytest.mark.parametrize(("pattern", "host", "allowlist", "certificate"), [
    ("relay.example.com", "relay.example.com", True, True),
    ("relay.example.com", "other.example.com", False, False),
    ("*.example.com", "a.example.com", True, True),
    ("*.example.com", "a.b.example.com", True, False),
    ("*.example.com", "example.com", False, False),
    ("*.com", "example.com", True, False),
    ("*.example.com", "a.notexample.com", False, False),
])
def test_each_reading_of_the_wildcard(pattern: str, host: str, allowlist: bool,
                                      certificate: bool) -> None:
    assert host_matches(pattern, host, wildcard=Wildcard.SUBDOMAINS) is allowlist
    assert host_matches(pattern, host, wildcard=Wildcard.ONE_LABEL) is certificate
