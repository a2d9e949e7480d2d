"""The outbound and recipient policies, exhaustively and without I/O."""

from __future__ import annotations

import pytest

from smtp_profile.domain.outbound import OutboundPolicy, PolicyError, parse_ports, parse_targets
from smtp_profile.domain.recipients import RecipientPolicy, parse_domains


def test_default_ports() -> None:
    policy = OutboundPolicy()
    for port in (25, 465, 587, 2525, 1025, 65535):
        assert policy.refusal("relay.test", port, ["192.0.2.1"]) is None
    for port in (22, 80, 443, 1024, 306):
        assert "not among the ports" in (policy.refusal("relay.test", port, ["192.0.2.1"]) or "")


def test_own_port_is_refused() -> None:
    policy = OutboundPolicy(own_ports=frozenset({8080}))
    assert "own port" in (policy.refusal("localhost", 8080, ["127.0.0.1"]) or "")


@pytest.mark.parametrize("address", ["169.254.169.254", "169.254.0.1", "fe80::1", "fe80::1%eth0"])
def test_link_local_is_refused_unless_allowed(address: str) -> None:
    assert "link-local" in (OutboundPolicy().refusal("metadata", 25, [address]) or "")
    assert OutboundPolicy(allow_link_local=True).refusal("metadata", 25, [address]) is None


def test_loopback_stays_allowed() -> None:
    assert OutboundPolicy().refusal("localhost", 2525, ["127.0.0.1", "::1"]) is None


def test_one_forbidden_address_refuses_the_name() -> None:
    policy = OutboundPolicy(networks=parse_targets("10.0.0.0/8")[0])
    assert policy.refusal("mixed.test", 25, ["10.1.2.3"]) is None
    assert "not among the hosts" in (policy.refusal("mixed.test", 25,
                                                   ["10.1.2.3", "192.0.2.7"]) or "")


def test_names_and_wildcards() -> None:
    networks, names = parse_targets("smtp.corp.example, *.relay.example, 127.0.0.0/8")
    policy = OutboundPolicy(networks=networks, names=names)
    assert policy.refusal("SMTP.corp.example.", 25, ["192.0.2.1"]) is None
    assert policy.refusal("a.relay.example", 25, ["192.0.2.1"]) is None
    assert policy.refusal("relay.example", 25, ["192.0.2.1"]) is not None
    assert policy.refusal("other.example", 25, ["127.0.0.5"]) is None


@pytest.mark.parametrize("text", ["0", "65536", "25-10", "x", "1-99999"])
def test_bad_port_settings(text: str) -> None:
    with pytest.raises(PolicyError):
        parse_ports(text)


def test_port_ranges() -> None:
    assert parse_ports("25, 587,1000-1002") == frozenset({25, 587, 1000, 1001, 1002})


def test_bad_target_settings() -> None:
    with pytest.raises(PolicyError):
        parse_targets("not a/host")


def test_recipient_domains() -> None:
    policy = RecipientPolicy(parse_domains("corp.example, *.lab.example, bücher.example"))
    assert policy.refusal("a@corp.example") is None
    assert policy.refusal("a@CORP.EXAMPLE") is None
    assert policy.refusal("a@x.lab.example") is None
    assert policy.refusal("a@xn--bcher-kva.example") is None
    assert "may only go to" in (policy.refusal("a@lab.example") or "")
    assert "evil.example" in (policy.refusal("a@evil.example") or "")
    assert RecipientPolicy().refusal("anyone@anywhere.example") is None
