"""One judged lookup per test, through the real service (issue 12, items 2 to 4).

A rebinding name server is played by `StaticResolver.answer_in_turn`: a name that fails
(or never answers) the first time and answers the second. The service must look each name
up once per test, judge what came back, and connect to exactly that; a failed lookup is a
failed step, never a second look. Addresses beyond loopback are only ever handed out to
be refused before any connection.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme

from smtp_profile.domain.outbound import OutboundPolicy, parse_targets
from tests.api.test_oauth import RECIPIENT, TOKEN, issuer, oauth_body
from tests.api.test_smtp_routes import error
from tests.support.oauth import TokenEndpoint
from tests.support.resolver import HANG, StaticResolver
from tests.support.service import (
    TEST_TOKEN_PORTS,
    RunningService,
    service_settings,
    start_service,
)
from tests.support.smtp import Behaviour, SmtpServer

Start = Callable[..., tuple[RunningService, StaticResolver]]
NOT_KNOWN = socket.gaierror(socket.EAI_NONAME, "Name or service not known")


@pytest.fixture
def start(tmp_path: Path, ca_bundle: Path) -> Iterator[Start]:
    """`start(outbound=..., sock=...)`: a service with its own rebinding-capable resolver."""
    started: list[RunningService] = []

    def make(sock: socket.socket | None = None,
             **overrides: Any) -> tuple[RunningService, StaticResolver]:
        resolver = StaticResolver({"mail.test": ["127.0.0.1"]}, non_loopback_to_refuse=True)
        settings = service_settings(tmp_path / f"data{len(started)}", ca_bundle, **overrides)
        running = start_service(settings, resolver, sock=sock)
        started.append(running)
        return running, resolver

    yield make
    for running in started:
        running.stop()


def body(relay: SmtpServer, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {"Host": "relay.test", "Port": relay.port,
                              "SenderAccount": "a@corp.local", "SenderName": "KF",
                              "TestRecipient": "pki@corp.local"}
    values.update(overrides)
    return values


def post(client: httpx.Client, payload: dict[str, Any], *,
         route: str = "Test") -> httpx.Response:
    return client.post(f"/KeyfactorAPI/SMTP/{route}", json=payload)


# -- the relay: a failed lookup is a failed resolve step, never a second look -------------

@pytest.mark.parametrize("first", [NOT_KNOWN, HANG, []], ids=["fails", "times-out", "empty"])
def test_a_failed_relay_lookup_is_not_repeated(
        start: Start, smtp_server: Callable[..., SmtpServer], first: Any) -> None:
    relay = smtp_server()
    service, resolver = start()
    resolver.answer_in_turn("relay.test", first, ["127.0.0.1"])
    with service.client() as client:
        failed = post(client, body(relay))
        succeeded = post(client, body(relay))
    message = error(failed, 400, "0xA0110008")
    assert "failed at step 'resolve': the host name 'relay.test'" in message
    assert relay.received != [] and len(relay.received) == 1  # the second test only
    assert succeeded.status_code == 200, succeeded.text
    assert resolver.count("relay.test") == 2  # one lookup per test


@pytest.mark.parametrize("rebound", [
    ["169.254.169.254"], ["::ffff:169.254.169.254"], ["192.0.2.25"], ["127.0.0.1"]])
def test_a_name_that_answers_only_the_second_time_is_never_connected_to(
        start: Start, smtp_server: Callable[..., SmtpServer], rebound: list[str]) -> None:
    """Seen in the attack: a failed vetted lookup, then the conversation's own lookup
    answered with metadata, the service's port or an address outside the allowlist."""
    relay = smtp_server()
    networks, names = parse_targets("127.0.0.0/8")
    service, resolver = start(outbound=OutboundPolicy(networks=networks, names=names))
    resolver.answer_in_turn("relay.test", NOT_KNOWN, rebound)
    with service.client() as client:
        report = post(client, body(relay), route="Diagnose").json()
    assert report["Success"] is False
    steps = {step["Name"]: step["Status"] for step in report["Steps"]}
    assert steps["resolve"] == "failed" and steps["connect"] == "skipped"
    assert resolver.count("relay.test") == 1
    assert relay.received == []


def test_the_relays_port_is_judged_even_when_the_lookup_fails(
        start: Start, smtp_server: Callable[..., SmtpServer]) -> None:
    relay = smtp_server()
    service, resolver = start(outbound=OutboundPolicy(ports=frozenset({25})))
    resolver.answer_in_turn("relay.test", NOT_KNOWN)
    with service.client() as client:
        refused = post(client, body(relay))
    assert f"port {relay.port} is not among the ports" in error(refused, 403, "0xA0110018")


@pytest.mark.parametrize("address", [
    "::ffff:169.254.169.254", "::ffff:a9fe:a9fe", "::169.254.169.254",
    "64:ff9b::169.254.169.254", "2002:a9fe:a9fe::1", "fd00:ec2::254", "169.254.169.254"])
def test_metadata_in_any_clothing_is_refused_before_any_connection(
        start: Start, smtp_server: Callable[..., SmtpServer], address: str) -> None:
    relay = smtp_server()
    service, resolver = start(outbound=OutboundPolicy(allow_link_local=True))
    resolver.answer_in_turn("relay.test", [address])
    with service.client() as client:
        by_name = post(client, body(relay))
        by_literal = post(client, body(relay, Host=address))
        allowed = post(client, body(relay, Host="mail.test"))
    assert "cloud metadata address" in error(by_name, 403, "0xA0110018")
    assert "cloud metadata address" in error(by_literal, 403, "0xA0110018")
    assert allowed.status_code == 200, allowed.text
    assert len(relay.received) == 1


# -- the token endpoint: looked up once, judged, reached at exactly those addresses -------

@pytest.fixture
def idp_context(ca: trustme.CA) -> ssl.SSLContext:
    """A certificate for idp.test alone: a name no real resolver knows."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("idp.test").configure_cert(context)
    return context


@pytest.fixture
def idp(idp_context: ssl.SSLContext) -> Iterator[TokenEndpoint]:
    endpoint = TokenEndpoint(issuer(expires_in=None), idp_context)  # no caching
    yield endpoint
    endpoint.close()


def idp_url(endpoint: TokenEndpoint) -> str:
    return endpoint.url.replace("127.0.0.1", "idp.test")


def test_the_token_endpoint_is_reached_at_its_one_vetted_lookup(
        start: Start, smtp_server: Callable[..., SmtpServer], idp: TokenEndpoint) -> None:
    """idp.test answers 127.0.0.1 (where it listens) first, 127.0.0.2 afterwards: the
    first test must use its own lookup's answer, and so must the second."""
    relay = smtp_server("starttls", Behaviour(xoauth2_tokens=frozenset({TOKEN})))
    service, resolver = start()
    resolver.answer_in_turn("idp.test", ["127.0.0.1"], ["127.0.0.2"])
    test_body = {**oauth_body(relay, idp, Host="mail.test", TokenEndpoint=idp_url(idp)),
                 "TestRecipient": RECIPIENT}
    with service.client(version=2) as client:
        first = post(client, test_body)
        second = post(client, test_body)
    assert first.status_code == 200, first.text
    assert resolver.count("idp.test") == 2  # one lookup per test
    message = error(second, 400, "0xA0110008")
    assert "failed at step 'token': could not connect to the token endpoint" in message
    assert len(idp.calls) == 1 and len(relay.received) == 1


@pytest.mark.parametrize("first", [NOT_KNOWN, HANG, []], ids=["fails", "times-out", "empty"])
def test_a_failed_token_endpoint_lookup_fails_closed(
        start: Start, smtp_server: Callable[..., SmtpServer], idp: TokenEndpoint,
        first: Any) -> None:
    relay = smtp_server("starttls", Behaviour(xoauth2_tokens=frozenset({TOKEN})))
    service, resolver = start()
    resolver.answer_in_turn("idp.test", first, ["127.0.0.1"])
    test_body = {**oauth_body(relay, idp, Host="mail.test", TokenEndpoint=idp_url(idp)),
                 "TestRecipient": RECIPIENT}
    with service.client(version=2) as client:
        failed = post(client, test_body)
        assert idp.calls == []
        succeeded = post(client, test_body)
    message = error(failed, 400, "0xA0110008")
    assert "failed at step 'token': the token endpoint's host name" in message
    assert succeeded.status_code == 200, succeeded.text
    assert resolver.count("idp.test") == 2 and len(idp.calls) == 1


@pytest.mark.parametrize("address", ["::ffff:169.254.169.254", "64:ff9b::a9fe:a9fe",
                                     "fd00:ec2::254", "169.254.10.10", "0.0.0.0"])  # noqa: S104
def test_a_token_endpoint_at_a_forbidden_address_is_refused(
        start: Start, smtp_server: Callable[..., SmtpServer], idp: TokenEndpoint,
        address: str) -> None:
    relay = smtp_server("starttls", Behaviour(xoauth2_tokens=frozenset({TOKEN})))
    service, resolver = start()
    resolver.answer_in_turn("idp.test", [address])
    test_body = {**oauth_body(relay, idp, Host="mail.test", TokenEndpoint=idp_url(idp)),
                 "TestRecipient": RECIPIENT}
    with service.client(version=2) as client:
        refused = post(client, test_body)
    message = error(refused, 403, "0xA0110018")
    assert f"Tests may not connect to the token endpoint idp.test:{idp.port}" in message
    assert idp.calls == [] and relay.received == []


# -- the operator's ports for token endpoints ------------------------------------------------

def test_token_endpoints_use_only_the_operators_ports(
        start: Start, smtp_server: Callable[..., SmtpServer],
        token_endpoint: Callable[..., TokenEndpoint]) -> None:
    relay = smtp_server("starttls", Behaviour(xoauth2_tokens=frozenset({TOKEN})))
    listed, unlisted = token_endpoint(issuer()), token_endpoint(issuer())
    listed_https, unlisted_https = (token_endpoint(issuer(), tls=True),
                                    token_endpoint(issuer(), tls=True))
    service, _ = start(outbound=OutboundPolicy(
        token_http_ports=frozenset({listed.port}), token_ports=frozenset({listed_https.port})))
    with service.client(version=2) as client:
        answers = [post(client, {**oauth_body(relay, endpoint), "TestRecipient": RECIPIENT})
                   for endpoint in (unlisted, listed, unlisted_https, listed_https)]
    assert "SMTP_PROFILE_TOKEN_ENDPOINT_HTTP_PORTS" in error(answers[0], 403, "0xA0110018")
    assert "SMTP_PROFILE_TOKEN_ENDPOINT_PORTS" in error(answers[2], 403, "0xA0110018")
    assert answers[1].status_code == answers[3].status_code == 200, answers[1].text
    assert unlisted.calls == unlisted_https.calls == []
    assert len(listed.calls) == len(listed_https.calls) == 1


def test_plain_http_token_endpoints_are_refused_by_default(
        start: Start, smtp_server: Callable[..., SmtpServer],
        token_endpoint: Callable[..., TokenEndpoint]) -> None:
    relay = smtp_server("starttls", Behaviour(xoauth2_tokens=frozenset({TOKEN})))
    endpoint = token_endpoint(issuer())
    service, _ = start(outbound=OutboundPolicy())
    with service.client(version=2) as client:
        refused = post(client, {**oauth_body(relay, endpoint), "TestRecipient": RECIPIENT})
    message = error(refused, 403, "0xA0110018")
    assert f"plain http token endpoints may only use the ports the operator lists for them " \
           f"(SMTP_PROFILE_TOKEN_ENDPOINT_HTTP_PORTS), and port {endpoint.port}" in message
    assert endpoint.calls == []


def test_plain_http_reaches_only_loopback(
        start: Start, smtp_server: Callable[..., SmtpServer],
        token_endpoint: Callable[..., TokenEndpoint]) -> None:
    """http://localhost is allowed on the page; if localhost answers something else than
    loopback, the client secret is not sent in clear over the network."""
    relay = smtp_server("starttls", Behaviour(xoauth2_tokens=frozenset({TOKEN})))
    endpoint = token_endpoint(issuer())
    service, resolver = start()
    resolver.answer_in_turn("localhost", ["192.0.2.80"], ["127.0.0.1"])
    url = endpoint.url.replace("127.0.0.1", "localhost")
    test_body = {**oauth_body(relay, endpoint, Host="mail.test", TokenEndpoint=url),
                 "TestRecipient": RECIPIENT}
    with service.client(version=2) as client:
        refused = post(client, test_body)
        allowed = post(client, test_body)
    assert "(192.0.2.80) is not a loopback address" in error(refused, 403, "0xA0110018")
    assert allowed.status_code == 200, allowed.text
    assert len(endpoint.calls) == 1


def test_a_token_endpoint_never_on_the_services_own_port(
        start: Start, smtp_server: Callable[..., SmtpServer],
        token_endpoint: Callable[..., TokenEndpoint]) -> None:
    relay = smtp_server("starttls", Behaviour(xoauth2_tokens=frozenset({TOKEN})))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    own = sock.getsockname()[1]
    service, _ = start(sock=sock, outbound=OutboundPolicy(
        own_ports=frozenset({own}), token_ports=TEST_TOKEN_PORTS,
        token_http_ports=TEST_TOKEN_PORTS))
    endpoint = token_endpoint(issuer())
    with service.client(version=2) as client:
        refused = post(client, {**oauth_body(relay, endpoint,
                                             TokenEndpoint=f"http://127.0.0.1:{own}/SMTP"),
                                "TestRecipient": RECIPIENT})
        allowed = post(client, {**oauth_body(relay, endpoint), "TestRecipient": RECIPIENT})
    assert f"port {own} is this service's own port" in error(refused, 403, "0xA0110018")
    assert allowed.status_code == 200, allowed.text


def test_an_internal_services_answer_is_not_echoed(
        service: RunningService, smtp_server: Callable[..., SmtpServer],
        token_endpoint: Callable[..., TokenEndpoint]) -> None:
    """The attack: TokenEndpoint aimed at a key-value store on loopback returned its JSON."""
    relay = smtp_server("starttls", Behaviour(xoauth2_tokens=frozenset({TOKEN})))
    internal = b'[{"Key": "secret/db", "Value": "S1YtQ2FuYXJ5LTQy"}]'
    kv = token_endpoint(issuer(raw_answer=(200, internal, {"Content-Type": "application/json"})))
    refused = token_endpoint(issuer(raw_answer=(403, internal,
                                                {"Content-Type": "application/json"})))
    with service.client(version=2) as client:
        answers = [post(client, {**oauth_body(relay, endpoint,
                                              TokenEndpoint=endpoint.url + "?recurse=true"),
                                 "TestRecipient": RECIPIENT})
                   for endpoint in (kv, refused)]
        audit = client.get("/KeyfactorAPI/SMTP/Audit").text
    messages = [error(answer, 400, "0xA0110008") for answer in answers]
    assert "answer is not a JSON object" in messages[0]
    assert ("answered HTTP 403 without an OAuth error (content type application/json)"
            in messages[1])
    for text in [*messages, audit]:
        assert "secret/db" not in text and "S1YtQ2FuYXJ5LTQy" not in text
