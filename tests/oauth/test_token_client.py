"""The client-credentials token client against a real token endpoint on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import httpcore
import pytest
import trustme

from smtp_profile.domain.oauth import RequestHeader, endpoint_destination
from smtp_profile.domain.secrets import Secret
from smtp_profile.mailer.resolver import Resolution, resolve_once
from smtp_profile.mailer.tls import client_context
from smtp_profile.oauth.pinned import PinnedBackend, same_host
from smtp_profile.oauth.token import AccessToken, TokenClient, TokenFailure, TokenRequest
from tests.support.oauth import Issuer, RawNumber, TokenEndpoint
from tests.support.resolver import StaticResolver
from tests.support.smtp import ScriptedServer, closed_port, silent

T = TypeVar("T")
SECRET = "Client-Secret-Canary-5e7a"


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


class FakeClock:
    """Stands in for time.monotonic so expiry is tested without sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def issuer(**overrides: Any) -> Issuer:
    values: dict[str, Any] = {"client_id": "client-1", "client_secret": SECRET,
                              "scope": "https://outlook.office365.com/.default",
                              "audience": None, "tokens": ["token-1", "token-2", "token-3"]}
    values.update(overrides)
    return Issuer(**values)


def request_for(target: TokenEndpoint, **overrides: Any) -> TokenRequest:
    values: dict[str, Any] = {"endpoint": target.url, "client_id": "client-1",
                              "client_secret": Secret(SECRET),
                              "scope": "https://outlook.office365.com/.default"}
    values.update(overrides)
    return TokenRequest(**values)


async def lookup(request: TokenRequest, resolver: StaticResolver | None = None) -> Resolution:
    """The endpoint's one lookup, as the service makes it before a test."""
    _scheme, host, port, _path, _query = endpoint_destination(request.endpoint)
    return await resolve_once(resolver or StaticResolver({"localhost": ["127.0.0.1"]}),
                              host, port, 2.0)


class LookingUpClient(TokenClient):
    """The token client with the service's lookup done for it when none is given."""

    async def get(self, request: TokenRequest, endpoint: Resolution | None = None, *,
                  fresh: bool = False) -> AccessToken:
        return await super().get(request, endpoint or await lookup(request), fresh=fresh)


def client(ca_bundle: Path | None = None, clock: Callable[[], float] = time.monotonic,
           **timeouts: float) -> LookingUpClient:
    return LookingUpClient(tls_context=client_context(ca_bundle),
                           connect_timeout=timeouts.get("connect", 2.0),
                           timeout=timeouts.get("read", 5.0), clock=clock)


def failure_of(tokens: LookingUpClient, request: TokenRequest) -> TokenFailure:
    with pytest.raises(TokenFailure) as caught:
        run(tokens.get(request))
    assert SECRET not in str(caught.value) and SECRET not in repr(caught.value)
    return caught.value


# -- the request as the identity provider sees it ----------------------------------------

def test_client_credentials_grant_with_client_secret_post(
        token_endpoint: Callable[..., TokenEndpoint]) -> None:
    endpoint = token_endpoint(issuer(audience="api://smtp",
                                     required_headers={"X-Tenant": "corp"}))
    request = request_for(endpoint, audience="api://smtp",
                          headers=(RequestHeader("X-Tenant", "corp"),))
    token = run(client().get(request))
    assert token.value == Secret("token-1") and token.expires_in == 3600
    assert not token.from_cache
    [call] = endpoint.calls
    assert call.headers["content-type"] == "application/x-www-form-urlencoded"
    assert call.headers["accept"] == "application/json"
    assert call.headers["x-tenant"] == "corp"
    assert "authorization" not in call.headers
    assert call.form == {"grant_type": ["client_credentials"], "client_id": ["client-1"],
                         "client_secret": [SECRET],
                         "scope": ["https://outlook.office365.com/.default"],
                         "audience": ["api://smtp"]}


def test_scope_and_audience_are_left_out_when_not_set(
        token_endpoint: Callable[..., TokenEndpoint]) -> None:
    endpoint = token_endpoint(issuer(scope=None))
    run(client().get(request_for(endpoint, scope=None)))
    assert set(endpoint.calls[0].form) == {"grant_type", "client_id", "client_secret"}


def test_https_endpoint_is_trusted_through_the_ca_bundle(
        token_endpoint: Callable[..., TokenEndpoint], ca_bundle: Path) -> None:
    endpoint = token_endpoint(issuer(), tls=True)
    assert endpoint.url.startswith("https://")
    token = run(client(ca_bundle).get(request_for(endpoint)))
    assert token.value == Secret("token-1")


def test_https_endpoint_with_an_untrusted_certificate_gets_no_secret(
        token_endpoint: Callable[..., TokenEndpoint]) -> None:
    endpoint = token_endpoint(issuer(), tls=True)
    failure = failure_of(client(ca_bundle=None), request_for(endpoint))
    assert "certificate was refused" in failure.message
    assert failure.hint is not None and "SMTP_PROFILE_CA_BUNDLE" in failure.hint
    assert endpoint.calls == []


# -- the cache ---------------------------------------------------------------------------

def test_a_token_is_reused_until_shortly_before_it_expires(
        token_endpoint: Callable[..., TokenEndpoint]) -> None:
    endpoint = token_endpoint(issuer(expires_in=600))
    clock = FakeClock()
    tokens = client(clock=clock)
    request = request_for(endpoint)

    async def three_tests() -> list[AccessToken]:
        first = await tokens.get(request)
        clock.now += 500
        second = await tokens.get(request)
        clock.now += 41  # 59 s left: inside the 60 s margin
        third = await tokens.get(request)
        return [first, second, third]

    first, second, third = run(three_tests())
    assert [first.value, second.value, third.value] == [
        Secret("token-1"), Secret("token-1"), Secret("token-2")]
    assert second.from_cache and second.expires_in == 100
    assert not third.from_cache
    assert len(endpoint.calls) == 2


def test_expires_in_as_a_string_of_digits_is_understood(
        token_endpoint: Callable[..., TokenEndpoint]) -> None:
    endpoint = token_endpoint(issuer(expires_in="3599"))
    tokens = client()
    request = request_for(endpoint)
    assert run(tokens.get(request)).expires_in == 3599
    assert run(tokens.get(request)).from_cache
    assert len(endpoint.calls) == 1


@pytest.mark.parametrize("expires_in", [None, 0, -5, "soon", True])
def test_a_token_without_a_usable_lifetime_is_not_cached(
        token_endpoint: Callable[..., TokenEndpoint], expires_in: object) -> None:
    endpoint = token_endpoint(issuer(expires_in=expires_in))
    tokens = client()
    request = request_for(endpoint)
    assert run(tokens.get(request)).value == Secret("token-1")
    assert run(tokens.get(request)).value == Secret("token-2")
    assert len(endpoint.calls) == 2


@pytest.mark.parametrize("expires_in", [
    float("nan"), float("inf"), float("-inf"), RawNumber("1e400"), RawNumber("9" * 5000),
    RawNumber("-" + "9" * 5000)])
def test_a_lifetime_that_is_not_a_finite_number_is_not_cached(
        token_endpoint: Callable[..., TokenEndpoint], expires_in: object) -> None:
    endpoint = token_endpoint(issuer(expires_in=expires_in))
    tokens = client()
    request = request_for(endpoint)
    first = run(tokens.get(request))
    assert first.value == Secret("token-1") and first.expires_in is None
    assert run(tokens.get(request)).value == Secret("token-2")
    assert len(endpoint.calls) == 2


def test_a_huge_lifetime_is_kept_a_day_at_most(
        token_endpoint: Callable[..., TokenEndpoint]) -> None:
    endpoint = token_endpoint(issuer(expires_in=RawNumber("1e200")))
    clock = FakeClock()
    tokens = client(clock=clock)
    request = request_for(endpoint)

    async def two_days() -> list[AccessToken]:
        first = await tokens.get(request)
        clock.now += 86400 - 120
        second = await tokens.get(request)
        clock.now += 120
        third = await tokens.get(request)
        return [first, second, third]

    first, second, third = run(two_days())
    assert [first.value, second.value, third.value] == [
        Secret("token-1"), Secret("token-1"), Secret("token-2")]
    assert second.from_cache and not third.from_cache


def test_changed_settings_never_reuse_a_cached_token(
        token_endpoint: Callable[..., TokenEndpoint]) -> None:
    endpoint = token_endpoint(issuer(scope=None, tokens=[f"t{i}" for i in range(10)]))
    other = token_endpoint(issuer(scope=None, tokens=["other-endpoint-token"]))
    tokens = client()
    base = request_for(endpoint, scope=None)
    variants = [
        base,
        request_for(other, scope=None),
        request_for(endpoint, scope=None, client_secret=Secret(SECRET + "-old")),
        request_for(endpoint, scope=None, client_id="client-2"),
        request_for(endpoint, scope="s"),
        request_for(endpoint, scope=None, audience="a"),
        request_for(endpoint, scope=None, headers=(RequestHeader("X-A", "1"),)),
    ]
    for variant in variants:
        # Refused or not (a wrong secret or scope is), each variant must ask the endpoint.
        with contextlib.suppress(TokenFailure):
            run(tokens.get(variant))
    assert len(endpoint.calls) + len(other.calls) == len(variants)
    assert run(tokens.get(base)).from_cache


def test_fresh_skips_the_cache_and_a_forgotten_token_is_fetched_again(
        token_endpoint: Callable[..., TokenEndpoint]) -> None:
    endpoint = token_endpoint(issuer())
    tokens = client()
    request = request_for(endpoint)
    run(tokens.get(request))
    assert run(tokens.get(request, fresh=True)).value == Secret("token-2")
    assert run(tokens.get(request)).value == Secret("token-2")
    tokens.cache.forget(tokens.cache.key(request.identity()))
    assert run(tokens.get(request)).value == Secret("token-3")
    assert len(endpoint.calls) == 3


def test_the_cache_holds_no_secret_in_clear(token_endpoint: Callable[..., TokenEndpoint]) -> None:
    endpoint = token_endpoint(issuer())
    tokens = client()
    run(tokens.get(request_for(endpoint)))
    state = repr(vars(tokens.cache)) + repr(list(vars(tokens.cache)["_entries"]))
    assert SECRET not in state and SECRET.encode().hex() not in state
    assert "token-1" not in state


def test_failures_are_not_cached(token_endpoint: Callable[..., TokenEndpoint]) -> None:
    endpoint = token_endpoint(issuer(raw_answer=(503, b"busy", {})))
    tokens = client()
    request = request_for(endpoint)
    failure_of(tokens, request)
    endpoint.issuer.raw_answer = None
    assert run(tokens.get(request)).value == Secret("token-1")


# -- what the identity provider says when it refuses ---------------------------------------

def test_a_wrong_secret_surfaces_error_and_description(
        token_endpoint: Callable[..., TokenEndpoint]) -> None:
    endpoint = token_endpoint(issuer(client_secret="the-right-one"))
    failure = failure_of(client(), request_for(endpoint))
    assert failure.message == ("the token endpoint refused the request: invalid_client "
                               "(AADSTS7000215: Invalid client secret provided.) (HTTP 401)")
    assert failure.hint is not None and "ClientSecret" in failure.hint
    assert failure.details == {"http_status": 401, "error": "invalid_client",
                               "error_description":
                               "AADSTS7000215: Invalid client secret provided."}


def test_an_invalid_scope_has_its_own_hint(token_endpoint: Callable[..., TokenEndpoint]) -> None:
    endpoint = token_endpoint(issuer(scope="https://outlook.office365.com/.default"))
    failure = failure_of(client(), request_for(endpoint, scope="wrong"))
    assert "invalid_scope" in failure.message
    assert failure.hint is not None and "Scope" in failure.hint


def test_a_provider_that_echoes_the_secret_is_redacted(
        token_endpoint: Callable[..., TokenEndpoint]) -> None:
    secret = "Se/cr+et=Canary~42"
    encoded = "Se%2Fcr%2Bet%3DCanary~42"
    body = ('{"error": "invalid_client", "error_description": "secret ' + secret +
            ' (form: ' + encoded + ') is wrong\\r\\nX: y"}').encode()
    endpoint = token_endpoint(issuer(raw_answer=(400, body, {})))
    with pytest.raises(TokenFailure) as caught:
        run(client().get(request_for(endpoint, client_secret=Secret(secret))))
    message = caught.value.message
    assert "secret *** (form: ***) is wrong X: y" in message
    assert "\r" not in message and "\n" not in message
    assert secret not in repr(caught.value) and encoded not in repr(caught.value)


@pytest.mark.parametrize(("answer", "wording"), [
    ((404, b"<html>Not Found</html>", {}), "answered HTTP 404 without an OAuth error"),
    ((500, b"", {}), "answered HTTP 500 without an OAuth error"),
    ((200, b"<html>login page</html>", {}), "answer is not a JSON object"),
    ((200, b'["access_token"]', {}), "answer is not a JSON object"),
    ((200, b'{"token_type": "Bearer"}', {}), "has no access_token"),
    ((200, b'{"access_token": ""}', {}), "has no access_token"),
    ((200, b'{"access_token": "a\\u0001b"}', {}), "characters a bearer token cannot have"),
    ((200, b'{"access_token": "abc", "token_type": "mac"}', {}), "issued a 'mac' token"),
    ((200, b"{" + b" " * 70000 + b"}", {}), "answer is larger than 64 KiB"),
    ((307, b"", {"Location": "https://elsewhere.example/token"}),
     "redirected (HTTP 307) to https://elsewhere.example/token; redirects are not followed"),
])
def test_misbehaving_endpoints_are_explained(token_endpoint: Callable[..., TokenEndpoint],
                                             answer: tuple[int, bytes, dict[str, str]],
                                             wording: str) -> None:
    endpoint = token_endpoint(issuer(raw_answer=answer))
    assert wording in failure_of(client(), request_for(endpoint)).message


def test_a_token_type_in_other_case_is_accepted(
        token_endpoint: Callable[..., TokenEndpoint]) -> None:
    endpoint = token_endpoint(issuer(token_type="bearer"))
    assert run(client().get(request_for(endpoint))).value == Secret("token-1")


def test_a_wrong_path_is_a_404(token_endpoint: Callable[..., TokenEndpoint]) -> None:
    endpoint = token_endpoint(issuer())
    failure = failure_of(client(), request_for(endpoint, endpoint=endpoint.url + "x"))
    assert "HTTP 404" in failure.message
    assert failure.hint is not None and "does not look like an OAuth token endpoint" in failure.hint


# -- the network -------------------------------------------------------------------------

def test_nothing_listening(token_endpoint: Callable[..., TokenEndpoint]) -> None:
    request = request_for(token_endpoint(issuer()),
                          endpoint=f"http://127.0.0.1:{closed_port()}/token")
    assert "connection refused" in failure_of(client(), request).message


def test_a_silent_endpoint_fails_within_the_bound(
        token_endpoint: Callable[..., TokenEndpoint],
        scripted_server: Callable[..., ScriptedServer]) -> None:
    server = scripted_server(silent)
    request = request_for(token_endpoint(issuer()),
                          endpoint=f"http://127.0.0.1:{server.port}/token")
    started = time.monotonic()
    failure = failure_of(client(read=1.0), request)
    assert "did not answer within 1 s" in failure.message
    # The bound is the feature under test (a read timeout of 1 s), not a speed claim.
    assert time.monotonic() - started < 30


def test_a_plain_http_server_on_an_https_url(token_endpoint: Callable[..., TokenEndpoint],
                                             ca_bundle: Path) -> None:
    endpoint = token_endpoint(issuer())
    request = request_for(endpoint, endpoint=endpoint.url.replace("http://", "https://"))
    failure = failure_of(client(ca_bundle), request)
    assert "TLS handshake with the token endpoint failed" in failure.message
    assert endpoint.calls == []


# -- what a non-OAuth answer says is never shown (issue 12, item 4) -----------------------

def test_the_body_of_a_non_oauth_answer_is_never_echoed(
        token_endpoint: Callable[..., TokenEndpoint]) -> None:
    internal = b'[{"Key": "secret/db", "Value": "SW50ZXJuYWwtS1YtQ2FuYXJ5"}]'
    for status in (200, 403, 404, 500):
        endpoint = token_endpoint(issuer(raw_answer=(
            status, internal, {"Content-Type": "application/json"})))
        failure = failure_of(client(), request_for(endpoint))
        shown = f"{failure.message} {failure.hint} {failure.details}"
        assert "secret/db" not in shown and "SW50ZXJuYWwtS1YtQ2FuYXJ5" not in shown
        if status != 200:
            assert failure.message == (f"the token endpoint answered HTTP {status} without "
                                       "an OAuth error (content type application/json)")
            assert failure.details == {"http_status": status,
                                       "content_type": "application/json"}


def test_oauth_error_fields_are_length_limited(
        token_endpoint: Callable[..., TokenEndpoint]) -> None:
    body = ('{"error": "' + "e" * 5000 + '", "error_description": "' + "d" * 5000 +
            '"}').encode()
    endpoint = token_endpoint(issuer(raw_answer=(400, body, {})))
    failure = failure_of(client(), request_for(endpoint))
    assert failure.details["error"] == "e" * 64 + "..."
    assert failure.details["error_description"] == "d" * 300 + "..."
    assert len(failure.message) < 500


# -- exactly the vetted addresses (issue 12, item 2) --------------------------------------

def test_the_request_goes_to_the_vetted_address_not_to_a_new_lookup(
        token_endpoint: Callable[..., TokenEndpoint]) -> None:
    """localhost would resolve to 127.0.0.1, where the endpoint listens; the vetted lookup
    said 127.0.0.2, so that is where the request goes (and finds nothing)."""
    endpoint = token_endpoint(issuer())
    request = request_for(endpoint, endpoint=endpoint.url.replace("127.0.0.1", "localhost"))
    vetted = run(lookup(request, StaticResolver({"localhost": ["127.0.0.2"]})))
    with pytest.raises(TokenFailure) as caught:
        run(client().get(request, vetted))
    assert "connection refused" in caught.value.message
    assert endpoint.calls == []
    # The same request, vetted to where the endpoint is, gets its token.
    right = run(lookup(request, StaticResolver({"localhost": ["127.0.0.1"]})))
    assert run(client().get(request, right)).value == Secret("token-1")


def test_the_vetted_addresses_are_tried_in_order(
        token_endpoint: Callable[..., TokenEndpoint]) -> None:
    endpoint = token_endpoint(issuer())
    request = request_for(endpoint, endpoint=endpoint.url.replace("127.0.0.1", "localhost"))
    vetted = run(lookup(request, StaticResolver({"localhost": ["127.0.0.2", "127.0.0.1"]})))
    assert run(client().get(request, vetted)).value == Secret("token-1")
    assert len(endpoint.calls) == 1


def test_https_by_name_checks_the_certificate_of_the_name_at_the_vetted_address(
        ca: trustme.CA, ca_bundle: Path) -> None:
    """idp.test is known to no real resolver: only the vetted lookup can reach it, and
    the certificate is checked for the name (SNI), not for the address."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("idp.test").configure_cert(context)
    endpoint = TokenEndpoint(issuer(), context)
    try:
        request = request_for(endpoint, endpoint=endpoint.url.replace("127.0.0.1",
                                                                      "idp.test"))
        vetted = run(lookup(request, StaticResolver({"idp.test": ["127.0.0.1"]})))
        assert run(client(ca_bundle).get(request, vetted)).value == Secret("token-1")
        # By address the certificate (for idp.test only) does not match: refused.
        literal = request_for(endpoint)
        failure = failure_of(client(ca_bundle), literal)
        assert "certificate was refused" in failure.message
    finally:
        endpoint.close()
    assert len(endpoint.calls) == 1


@pytest.mark.parametrize(("vetted", "wording"), [
    (None, "was not looked up and checked against the outbound policy"),
    (Resolution("127.0.0.1", [], socket.gaierror(socket.EAI_AGAIN, "the lookup timed out"),
                2000.0), "host name does not resolve (the lookup timed out)"),
    (Resolution("127.0.0.1", [], None, 1.0), "resolved to no usable address"),
    (Resolution("other.test", [], None, 1.0), "was not looked up and checked"),
])
def test_without_a_usable_vetted_lookup_nothing_is_sent(
        token_endpoint: Callable[..., TokenEndpoint], vetted: Resolution | None,
        wording: str) -> None:
    endpoint = token_endpoint(issuer())
    tokens = TokenClient(tls_context=client_context(None), connect_timeout=2.0, timeout=5.0)
    with pytest.raises(TokenFailure) as caught:
        run(tokens.get(request_for(endpoint), vetted))
    assert wording in caught.value.message
    assert endpoint.calls == []


def test_the_pinned_transport_connects_to_no_other_host_or_port() -> None:
    backend = PinnedBackend("idp.test", 443, [])

    async def attempts() -> list[str]:
        reasons = []
        for host, port in (("other.test", 443), ("idp.test", 8443), ("idp.test", 443)):
            with pytest.raises(httpcore.ConnectError) as caught:
                await backend.connect_tcp(host, port)
            reasons.append(str(caught.value))
        return reasons

    assert run(attempts()) == [
        "other.test:443 is not the token endpoint that was looked up and judged",
        "idp.test:8443 is not the token endpoint that was looked up and judged",
        "the token endpoint has no address"]
    assert same_host("IDP.test.", "idp.test") and same_host("[::1]", "::1")
