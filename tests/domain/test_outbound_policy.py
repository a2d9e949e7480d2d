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


@pytest.mark.parametrize("address", ["169.254.0.1", "fe80::1", "fe80::1%eth0", "169.254.9.9"])
def test_link_local_is_refused_unless_allowed(address: str) -> None:
    assert "link-local" in (OutboundPolicy().refusal("metadata", 25, [address]) or "")
    assert OutboundPolicy(allow_link_local=True).refusal("metadata", 25, [address]) is None


# Each the link-local 169.254.0.1 in another IPv6 form (issue 12, item 5).
LINK_LOCAL_IN_IPV6_CLOTHING = [
    "::ffff:169.254.0.1",  # IPv4-mapped
    "::ffff:a9fe:1",  # the same, in hex
    "::169.254.0.1",  # IPv4-compatible
    "64:ff9b::169.254.0.1",  # NAT64, RFC 6052's well-known prefix
    "64:ff9b::a9fe:1",
    "2002:a9fe:1::1",  # 6to4
]


@pytest.mark.parametrize("address", LINK_LOCAL_IN_IPV6_CLOTHING)
def test_ipv6_forms_are_judged_as_the_ipv4_address_they_carry(address: str) -> None:
    reason = OutboundPolicy().refusal("relay.test", 25, [address])
    assert reason is not None and "(that is, 169.254.0.1)" in reason and "link-local" in reason
    assert OutboundPolicy().address_refusal("idp.test", [address]) == reason


@pytest.mark.parametrize("address", [
    "169.254.169.254", "::ffff:169.254.169.254", "::ffff:a9fe:a9fe", "::169.254.169.254",
    "64:ff9b::169.254.169.254", "2002:a9fe:a9fe::1", "fd00:ec2::254", "fd00:ec2::23",
    "fd20:ce::254", "fe80::a9fe:a9fe", "169.254.170.2", "100.100.100.200",
    "::ffff:100.100.100.200", "168.63.129.16", "192.0.0.192",
    # Teredo: server 65.54.227.120, client 169.254.169.254 (stored inverted: 5601:5601).
    "2001:0:4136:e378:8000:63bf:5601:5601",
])
def test_cloud_metadata_addresses_are_refused_even_with_link_local_allowed(
        address: str) -> None:
    for policy in (OutboundPolicy(), OutboundPolicy(allow_link_local=True),
                   OutboundPolicy(networks=parse_targets("0.0.0.0/0, ::/0")[0])):
        reason = policy.refusal("metadata.test", 25, [address])
        assert reason is not None and "cloud metadata address" in reason, address


@pytest.mark.parametrize("address", ["0.0.0.0", "0.1.2.3", "::", "::ffff:0.0.0.0"])  # noqa: S104
def test_unspecified_addresses_are_refused(address: str) -> None:
    reason = OutboundPolicy().refusal("zero.test", 25, [address])
    assert reason is not None and "unspecified" in reason


def test_the_allowlist_judges_the_carried_address_too() -> None:
    policy = OutboundPolicy(networks=parse_targets("10.0.0.0/8")[0])
    assert policy.refusal("relay.test", 25, ["::ffff:10.1.2.3"]) is None
    assert policy.refusal("relay.test", 25, ["64:ff9b::10.1.2.3"]) is None
    assert "not among the hosts" in (policy.refusal("relay.test", 25, ["::ffff:192.0.2.1"])
                                     or "")


def test_ordinary_ipv6_addresses_are_themselves() -> None:
    assert OutboundPolicy().refusal("relay.test", 25, ["2001:db8::25", "::1"]) is None


# -- token endpoints (issue 12, item 4) -------------------------------------------------------

def test_https_token_endpoints_use_the_operators_ports() -> None:
    policy = OutboundPolicy()
    assert policy.token_endpoint_refusal("https", "idp.test", 443, ["192.0.2.1"]) is None
    reason = policy.token_endpoint_refusal("https", "idp.test", 8500, ["192.0.2.1"])
    assert reason is not None and "port 8500 is not among the ports token endpoints" in reason
    wider = OutboundPolicy(token_ports=parse_ports("443,8443"))
    assert wider.token_endpoint_refusal("https", "idp.test", 8443, ["192.0.2.1"]) is None


def test_plain_http_token_endpoints_are_refused_by_default() -> None:
    reason = OutboundPolicy().token_endpoint_refusal("http", "localhost", 8500,
                                                     ["127.0.0.1"])
    assert reason is not None and "SMTP_PROFILE_TOKEN_ENDPOINT_HTTP_PORTS" in reason


def test_plain_http_token_endpoints_only_on_listed_ports_and_loopback() -> None:
    policy = OutboundPolicy(token_http_ports=frozenset({8081}))
    assert policy.token_endpoint_refusal("http", "localhost", 8081,
                                         ["127.0.0.1", "::1"]) is None
    assert "not among them" in (policy.token_endpoint_refusal(
        "http", "localhost", 8500, ["127.0.0.1"]) or "")
    for address in ("192.0.2.1", "::ffff:192.0.2.1", "0.0.0.0"):  # noqa: S104
        reason = policy.token_endpoint_refusal("http", "localhost", 8081,
                                               ["127.0.0.1", address])
        assert reason is not None and "not a loopback address" in reason
    # A name that rebinds to metadata is refused by the host rules too.
    assert "cloud metadata" in (policy.token_endpoint_refusal(
        "https", "idp.test", 443, ["::ffff:169.254.169.254"]) or "")


def test_a_token_endpoint_never_uses_the_services_own_port() -> None:
    policy = OutboundPolicy(own_ports=frozenset({8080}), token_ports=frozenset({8080}),
                            token_http_ports=frozenset({8080}))
    for scheme in ("http", "https"):
        reason = policy.token_endpoint_refusal(scheme, "localhost", 8080, ["127.0.0.1"])
        assert reason is not None and "own port" in reason


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


def test_ports_separated_by_spaces_as_the_implicit_tls_setting_always_took_them() -> None:
    assert parse_ports("465 587") == frozenset({465, 587})
    assert parse_ports(" 465,  587 , 1000 - 1001") == frozenset({465, 587, 1000, 1001})
    assert parse_ports("") == frozenset()


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


def test_port_ranges_are_kept_as_ranges_and_behave_as_a_set() -> None:
    ports = parse_ports("25,465,587,2525,1025-65535")
    assert ports == parse_ports("1025-65535, 25 465,587")  # 2525 lies inside the range
    assert repr(ports) == "PortRanges(25,465,587,1025-65535)"
    assert [p for p in (24, 25, 26, 1024, 1025, 2525, 65535, 65536) if p in ports] == [
        25, 1025, 2525, 65535]
    assert "25" not in ports  # type: ignore[comparison-overlap]
    assert len(ports) == 3 + 64511
    assert sorted(parse_ports("10-12,11-14,16")) == [10, 11, 12, 13, 14, 16]
    assert parse_ports("10-12,13") == frozenset({10, 11, 12, 13})  # adjacent ranges merge
    assert parse_ports("10-12") != frozenset({10, 11})
    assert hash(OutboundPolicy()) == hash(OutboundPolicy())
    assert OutboundPolicy(ports=parse_ports("25")).refusal("relay.example", 26, ["192.0.2.1"])
