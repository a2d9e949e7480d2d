"""An OpenID Connect identity provider's signing keys, and bearer tokens checked by them.

PyJWT parses and verifies (signature, `exp`, `nbf`, `iss`, `aud`); nothing here reads a
JWT by hand. The keys come from the provider's discovery document
(`{issuer}/.well-known/openid-configuration`, whose `issuer` must be the configured one)
and its `jwks_uri`, fetched with httpx on first use and kept. A token naming a key (`kid`)
not among them makes the keys be fetched again, at most once per `refetch_seconds`, so
a provider's key rotation works without a restart and a stream of made-up `kid`s cannot
make this service hammer the provider. Keys older than `MAX_KEY_AGE_SECONDS` are fetched
again on next use; if that fails the old keys keep serving.
"""

from __future__ import annotations

import asyncio
import logging
import math
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt

from smtp_profile.domain.bearer import (
    ACCEPTED_ALGORITHMS,
    REQUIRED_CLAIMS,
    TokenRules,
    check_provider_url,
)
from smtp_profile.domain.json_text import parse_json
from smtp_profile.usecases.ports import IdentityProviderUnavailable, TokenRejected

log = logging.getLogger(__name__)

DISCOVERY_PATH = "/.well-known/openid-configuration"
MAX_KEY_AGE_SECONDS = 3600.0
MAX_DOCUMENT_BYTES = 512 * 1024
MAX_TOKEN_CHARS = 16 * 1024


class OidcProvider:
    """A TokenVerifier: the provider's keys, fetched and kept, and the rules of `rules`."""

    def __init__(self, rules: TokenRules, *, refetch_seconds: float, timeout: float,
                 ca_bundle: Path | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._rules = rules
        self._refetch_seconds = refetch_seconds
        self._timeout = timeout
        self._ca_bundle = ca_bundle
        self._clock = clock
        self._keys: dict[str | None, _Key] = {}
        self._fetched_at: float | None = None
        self._failure: IdentityProviderUnavailable | None = None
        self._lock = asyncio.Lock()
        self._context: ssl.SSLContext | None = None
        self.fetches = 0
        """How often the keys were fetched (for the operator's log and the tests)."""
        self._generation = 0

    @property
    def key_generation(self) -> int:
        """Moves with every successful fetch of the keys (see TokenVerifier)."""
        return self._generation

    async def verify(self, token: str) -> Mapping[str, Any]:
        if len(token) > MAX_TOKEN_CHARS:
            raise TokenRejected("the token is too long")
        try:
            header = jwt.get_unverified_header(token)
            claimed = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise TokenRejected("the token is not a well-formed JWT") from None
        algorithm = header.get("alg")
        if algorithm not in ACCEPTED_ALGORITHMS:
            raise TokenRejected(f"the token's signing algorithm is not accepted (only "
                                f"{', '.join(ACCEPTED_ALGORITHMS)})", claimed)
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise TokenRejected("the token's key id (kid) is not a string", claimed)
        key = await self._key(kid, claimed)
        if key.algorithm not in (None, algorithm):
            raise TokenRejected("the token's algorithm is not the one its key is for", claimed)
        try:
            return jwt.decode(
                token, key.public_key, algorithms=[algorithm], audience=list(self._rules.audiences),
                issuer=self._rules.issuer, leeway=self._rules.leeway,
                options={"require": list(REQUIRED_CLAIMS)})
        except jwt.ExpiredSignatureError:
            reason = "the token has expired"
        except jwt.ImmatureSignatureError:
            reason = "the token is not valid yet (nbf or iat in the future)"
        except jwt.InvalidIssuerError:
            reason = "the token was issued by another issuer"
        except jwt.InvalidAudienceError:
            reason = "the token is meant for another audience (aud)"
        except jwt.MissingRequiredClaimError as missing:
            reason = f"the token lacks the {missing.claim} claim"
        except jwt.InvalidSignatureError:
            reason = "the token's signature does not verify"
        except (jwt.PyJWTError, ValueError, TypeError):
            reason = "the token cannot be verified with the provider's key"
        raise TokenRejected(reason, claimed)

    async def _key(self, kid: str | None, claimed: Mapping[str, Any]) -> _Key:
        """The key `kid` names, fetching the provider's keys when it is not known yet
        (at most once per refetch_seconds) or they are old."""
        key = self._find(kid)
        if key is not None and not self._stale():
            return key
        async with self._lock:
            key = self._find(kid)
            if key is None or self._stale():
                await self._refresh(need=key is None)
                key = self._find(kid)
        if key is not None:
            return key
        if kid is None:
            raise TokenRejected("the token names no key (kid) and the provider publishes "
                                "several", claimed)
        raise TokenRejected("the token's signing key (kid) is not published by the "
                            "identity provider", claimed)

    def _find(self, kid: str | None) -> _Key | None:
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        return self._keys.get(kid)

    def _stale(self) -> bool:
        return (self._fetched_at is not None
                and self._clock() - self._fetched_at >= MAX_KEY_AGE_SECONDS)

    async def _refresh(self, *, need: bool) -> None:
        """Fetch the keys unless fetched within refetch_seconds; `need`: without new
        keys the token cannot be checked, so a failure is raised, not only logged."""
        now = self._clock()
        since = None if self._fetched_at is None else now - self._fetched_at
        if since is not None and since < self._refetch_seconds and not self._stale():
            if need and self._failure is not None:
                raise self._failure
            return
        self._fetched_at = now
        try:
            self._keys = await self._fetch()
            self._generation += 1
            self._failure = None
        except IdentityProviderUnavailable as failure:
            self._failure = failure
            log.warning("identity provider %s: %s", self._rules.issuer, failure.message)
            if need or not self._keys:
                raise

    async def _fetch(self) -> dict[str | None, _Key]:
        self.fetches += 1
        retry = max(1, math.ceil(self._refetch_seconds))
        try:
            async with httpx.AsyncClient(verify=self._ssl_context(), timeout=self._timeout,
                                         follow_redirects=False, trust_env=False) as client:
                discovery = await _document(
                    client, self._rules.issuer.rstrip("/") + DISCOVERY_PATH)
                if discovery.get("issuer") != self._rules.issuer:
                    raise _Unusable("the discovery document names another issuer")
                jwks_uri = discovery.get("jwks_uri")
                if not isinstance(jwks_uri, str):
                    raise _Unusable("the discovery document has no jwks_uri")
                try:
                    check_provider_url(jwks_uri)
                except ValueError:
                    raise _Unusable("its jwks_uri is not https") from None
                keys = _usable_keys(await _document(client, jwks_uri))
        except _Unusable as problem:
            raise IdentityProviderUnavailable(str(problem), retry) from None
        except httpx.HTTPError as exc:
            raise IdentityProviderUnavailable(
                f"{type(exc).__name__} reaching the provider", retry) from None
        log.info("identity provider %s: %d signing keys", self._rules.issuer, len(keys))
        return keys

    def _ssl_context(self) -> ssl.SSLContext:
        """The system's trust store, plus the operator's --ca-bundle."""
        if self._context is None:
            context = ssl.create_default_context()
            if self._ca_bundle is not None:
                context.load_verify_locations(cafile=str(self._ca_bundle))
            self._context = context
        return self._context


@dataclass(frozen=True)
class _Key:
    """A published signing key and the algorithm the provider declared for it, if any."""

    public_key: Any
    algorithm: str | None


class _Unusable(Exception):
    """The provider answered, but not with what OpenID Connect publishes."""


async def _document(client: httpx.AsyncClient, url: str) -> dict[str, Any]:
    """A JSON object from `url`, at most MAX_DOCUMENT_BYTES."""
    async with client.stream("GET", url, headers={"Accept": "application/json"}) as answer:
        if answer.status_code != 200:
            raise _Unusable(f"HTTP {answer.status_code} from {urlsplit(url).path}")
        body = bytearray()
        async for chunk in answer.aiter_bytes():
            body += chunk
            if len(body) > MAX_DOCUMENT_BYTES:
                raise _Unusable(f"{urlsplit(url).path} is too large")
    try:
        document = parse_json(body)
    except ValueError:
        raise _Unusable(f"{urlsplit(url).path} is not JSON") from None
    if not isinstance(document, dict):
        raise _Unusable(f"{urlsplit(url).path} is not a JSON object")
    return document


def _usable_keys(jwks: Mapping[str, Any]) -> dict[str | None, _Key]:
    """The signature keys of a JWK Set by kid; encryption keys, symmetric keys and keys
    PyJWT cannot use are left out."""
    listed = jwks.get("keys")
    if not isinstance(listed, list):
        raise _Unusable("the JWK Set has no keys list")
    keys: dict[str | None, _Key] = {}
    for entry in listed:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        if entry.get("kty") == "oct" or entry.get("alg", "RS256") not in ACCEPTED_ALGORITHMS:
            continue
        try:
            public_key = jwt.PyJWK(entry).key
        except (jwt.PyJWTError, ValueError, TypeError):
            continue
        kid, declared = entry.get("kid"), entry.get("alg")
        keys[kid if isinstance(kid, str) else None] = _Key(
            public_key, declared if isinstance(declared, str) else None)
    if not keys:
        raise _Unusable("the JWK Set holds no usable signing key")
    return keys
