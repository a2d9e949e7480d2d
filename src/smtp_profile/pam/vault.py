"""HashiCorp Vault, KV secrets engine version 2, as a PAM provider (over httpx).

A value is `GET /v1/<Mount>/data/<Secret>` then the `Key` inside the secret's data, read
with a token (`X-Vault-Token`) and, for Vault Enterprise namespaces, `X-Vault-Namespace`.
The token is either configured (`Token`) or obtained by AppRole sign-in (`RoleId` and
`SecretId`, `POST /v1/auth/<AppRoleMount>/login`); an AppRole token is kept in memory
until its lease ends, and when Vault refuses it earlier (revoked, or the lease was cut) the
source signs in again once and retries.

httpx rather than hvac: the service is asyncio throughout and hvac is synchronous (on
requests), so each read would need a thread; httpx is already a dependency, speaks
asyncio, and lets this module control exactly what is sent (no proxy from the environment,
no redirects followed: a redirect would carry `X-Vault-Token`, a custom header, to whatever
host it names). The part of Vault's API used is three calls.

What Vault's answers mean here: 403 with "invalid token" (or a 403 whose token then fails
`GET /v1/auth/token/lookup-self`, for versions that say only "permission denied") is
SIGNED_OUT; a 403 for a token that is valid is FORBIDDEN (the policy does not allow the
path); 404 is NOT_FOUND (no secret, a deleted or destroyed version, or no such mount);
connection and TLS failures and 5xx (sealed, standby) are UNREACHABLE; a missing key is
NOT_FOUND and an empty value EMPTY. Vault's own error texts (multierror-wrapped, "1 error
occurred: * ...") are unwrapped to one short line, with the token, role id and secret id
cut out should they appear.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import re
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from smtp_profile import __version__
from smtp_profile.domain.json_text import parse_json
from smtp_profile.domain.secret_reference import (
    ParameterSpec,
    SecretFailure,
    SecretUnavailable,
)
from smtp_profile.pam.parameters import check_settings, one_line, present, reference_values

log = logging.getLogger(__name__)

NAME = "Hashicorp-Vault"
"""Keyfactor's own name for its Vault PAM type (its integration manifest's `Name`)."""

PARAMETERS = (
    ParameterSpec("Host", "Vault Host (https://vault.example.com:8200)"),
    ParameterSpec("Token", "Vault Token", secret=True, required=False),
    ParameterSpec("RoleId", "AppRole Role ID", required=False),
    ParameterSpec("SecretId", "AppRole Secret ID", secret=True, required=False),
    ParameterSpec("AppRoleMount", "AppRole auth mount (default approle)", required=False),
    ParameterSpec("Namespace", "Namespace (Vault Enterprise)", required=False),
    ParameterSpec("Path", "Default KV v2 mount (secret, or Keyfactor's v1/secret/data)",
                  required=False),
    ParameterSpec("CaBundle", "CA certificates to trust (PEM)", required=False),
    ParameterSpec("Mount", "KV v2 mount (default: the provider's Path, else secret)",
                  required=False, instance_level=True),
    ParameterSpec("Secret", "KV Secret Path", instance_level=True),
    ParameterSpec("Key", "KV Secret Key", instance_level=True),
)

DEFAULT_MOUNT = "secret"
MAX_RESPONSE = 1024 * 1024
MAX_CA_BUNDLE = 256 * 1024
USER_AGENT = f"smtp-profile/{__version__}"
_SEGMENT = re.compile(r"\A[A-Za-z0-9_.@+=:,~-]+\Z")
_WRAPPED_LINE = re.compile(r"^\s*\*\s*(.+?)\s*$")

if TYPE_CHECKING:
    import httpx


def _segments_problem(name: str, value: str) -> str | None:
    """A Vault path (mount, secret, namespace) as `/`-separated plain segments."""
    parts = value.strip("/").split("/")
    if not value.strip("/") or any(part in ("", ".", "..") or not _SEGMENT.match(part)
                                   for part in parts):
        return (f"{name} {value!r} must be a path of plain segments (letters, digits and "
                "_ . @ + = : , ~ -) separated by '/'.")
    return None


def _mount_of(path: str) -> str:
    """Keyfactor's `Path` (`v1/secret/data`) or a plain mount (`secret`) as the mount."""
    mount = path.strip("/")
    mount = mount.removeprefix("v1/")
    return mount.removesuffix("/data") if mount.endswith("/data") else mount


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host_problems(host: str | None) -> list[str]:
    if host is None:
        return []
    try:
        parts = urlsplit(host)
        parts.port  # noqa: B018 - raises for a port out of range
    except ValueError:
        return [f"Host {host!r} is not a URL."]
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return ["Host must be an https URL such as https://vault.example.com:8200."]
    if parts.username or parts.password or parts.query or parts.fragment or \
            parts.path.strip("/"):
        return ["Host must be only the scheme, name and port of Vault (no path, user, "
                "query or fragment)."]
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        return ["Host must use https (plain http is allowed only to this machine's "
                "loopback address): the token would cross the network in clear."]
    return []


def _ca_problems(pem: str | None) -> list[str]:
    if pem is None:
        return []
    if len(pem) > MAX_CA_BUNDLE:
        return [f"CaBundle is larger than {MAX_CA_BUNDLE // 1024} KiB."]
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cadata=pem)
    except (ssl.SSLError, ValueError):
        return ["CaBundle must hold PEM certificates (-----BEGIN CERTIFICATE-----)."]
    return []


@dataclass
class VaultProviderType:
    """The `Hashicorp-Vault` type: see the module's docstring."""

    name: str = NAME
    parameters: tuple[ParameterSpec, ...] = PARAMETERS

    def validate(self, settings: Mapping[str, str]) -> None:
        given = present(settings)
        problems = _host_problems(given.get("Host")) + _ca_problems(given.get("CaBundle"))
        has_token = "Token" in given
        has_role = "RoleId" in given or "SecretId" in given
        if has_token and has_role:
            problems.append("Give either Token or RoleId and SecretId (AppRole), not both.")
        elif not has_token and not has_role:
            problems.append("Give Token, or RoleId and SecretId for AppRole sign-in.")
        elif has_role and not ("RoleId" in given and "SecretId" in given):
            problems.append("AppRole sign-in needs both RoleId and SecretId.")
        if "AppRoleMount" in given and not has_role:
            problems.append("AppRoleMount is used only with RoleId and SecretId.")
        for name in ("AppRoleMount", "Namespace"):
            if name in given:
                problem = _segments_problem(name, given[name])
                if problem:
                    problems.append(problem)
        if "Path" in given:
            problem = _segments_problem("Path", _mount_of(given["Path"]))
            if problem:
                problems.append(problem)
        check_settings(NAME, PARAMETERS, settings, problems,
                       multiline=frozenset({"CaBundle"}), long=frozenset({"CaBundle"}))

    def open(self, settings: Mapping[str, str], *, timeout: float) -> VaultSource:
        self.validate(settings)
        given = present(settings)
        import httpx  # here, not at the top: httpx loads only when a Vault is used

        context = ssl.create_default_context()
        if "CaBundle" in given:
            context.load_verify_locations(cadata=given["CaBundle"])
        client = httpx.AsyncClient(
            base_url=given["Host"].rstrip("/"), verify=context, trust_env=False,
            follow_redirects=False, timeout=httpx.Timeout(timeout),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"})
        approle = None
        if "RoleId" in given:
            approle = AppRole(given["RoleId"], given["SecretId"],
                              given.get("AppRoleMount", "approle").strip("/"))
        return VaultSource(
            client=client, timeout=timeout, token=given.get("Token"), approle=approle,
            namespace=given.get("Namespace", "").strip("/") or None,
            default_mount=_mount_of(given.get("Path", DEFAULT_MOUNT)))


@dataclass(frozen=True)
class AppRole:
    role_id: str = field(repr=False)
    secret_id: str = field(repr=False)
    mount: str = "approle"


@dataclass(frozen=True)
class _Answer:
    status: int
    body: Any

    def messages(self) -> list[str]:
        """Vault's `errors`, multierror wrapping ("2 errors occurred: * a * b") undone."""
        errors = self.body.get("errors") if isinstance(self.body, dict) else None
        found: list[str] = []
        for error in errors if isinstance(errors, list) else []:
            if not isinstance(error, str):
                continue
            lines = [m.group(1) for line in error.splitlines()
                     if (m := _WRAPPED_LINE.match(line))]
            for message in lines or [error]:
                if message.strip() and message.strip() not in found:
                    found.append(message.strip())
        return found


@dataclass
class VaultSource:
    """One configured Vault: an httpx client and, for AppRole, the current token."""

    client: httpx.AsyncClient
    timeout: float
    token: str | None = field(default=None, repr=False)
    approle: AppRole | None = None
    namespace: str | None = None
    default_mount: str = DEFAULT_MOUNT
    _expires: float | None = field(default=None, repr=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    async def fetch(self, parameters: Mapping[str, str]) -> str:
        values = reference_values(NAME, PARAMETERS, parameters)
        mount = values.get("Mount", self.default_mount).strip("/")
        secret = values["Secret"].strip("/")
        for name, value in (("Mount", mount), ("Secret", secret)):
            problem = _segments_problem(name, value)
            if problem:
                raise SecretUnavailable(SecretFailure.MISCONFIGURED, problem)
        where = f"{mount}/{secret}"
        path = "/v1/" + "/".join(quote(part, safe="") for part in
                                 [*mount.split("/"), "data", *secret.split("/")])
        try:
            async with asyncio.timeout(self.timeout):
                return await self._read(path, where, values["Key"])
        except TimeoutError:
            raise SecretUnavailable(
                SecretFailure.TIMED_OUT,
                f"Vault did not answer within {self.timeout:g} seconds.") from None

    async def _read(self, path: str, where: str, key: str) -> str:
        fresh = False
        if self.approle is not None and not self._token_usable():
            await self._sign_in(self.token)
            fresh = True
        used = self.token
        answer = await self._call("GET", path)
        if answer.status == 403 and self.approle is not None and not fresh:
            log.info("Vault refused the AppRole token for %s; signing in again", where)
            await self._sign_in(used)
            answer = await self._call("GET", path)
        if answer.status == 200:
            return self._value(answer, where, key)
        if answer.status == 404:
            raise SecretUnavailable(SecretFailure.NOT_FOUND, self._not_found(answer, where))
        if answer.status == 403:
            raise await self._refused(answer, where)
        raise self._other(answer, f"reading {where}")

    def _token_usable(self) -> bool:
        if self.token is None:
            return False
        return self._expires is None or time.monotonic() < self._expires

    async def _sign_in(self, stale: str | None) -> None:
        """AppRole login in place of the `stale` token; concurrent fetches that found the
        same token stale share one sign-in."""
        assert self.approle is not None
        async with self._lock:
            if self.token is not None and self.token != stale and self._token_usable():
                return  # another fetch signed in while this one waited
            role = self.approle
            answer = await self._call("POST", f"/v1/auth/{role.mount}/login",
                                      body={"role_id": role.role_id,
                                            "secret_id": role.secret_id},
                                      authenticated=False)
            if answer.status in (400, 401, 403):
                self.token = None
                raise SecretUnavailable(
                    SecretFailure.SIGNED_OUT,
                    "Vault refused the AppRole sign-in (RoleId or SecretId wrong, expired or "
                    f"used up): {self._said(answer)}")
            if answer.status != 200:
                raise self._other(answer, "signing in with AppRole")
            auth = answer.body.get("auth") if isinstance(answer.body, dict) else None
            token = auth.get("client_token") if isinstance(auth, dict) else None
            if not isinstance(token, str) or not token:
                raise SecretUnavailable(SecretFailure.UNREACHABLE,
                                        "Vault's AppRole sign-in answer holds no token.")
            lease = auth.get("lease_duration") if isinstance(auth, dict) else None
            self.token = token
            self._expires = None
            if isinstance(lease, int) and not isinstance(lease, bool) and lease > 0:
                # Sign in again a little before Vault would refuse the token.
                self._expires = time.monotonic() + lease * 0.9

    async def _refused(self, answer: _Answer, where: str) -> SecretUnavailable:
        said = self._said(answer)
        if any("invalid token" in message.lower() for message in answer.messages()):
            return SecretUnavailable(SecretFailure.SIGNED_OUT,
                                     f"Vault does not accept the token (expired or revoked): "
                                     f"{said}")
        if self.approle is None:
            # Older Vault versions say only "permission denied" for a bad token too: ask
            # Vault about the token itself.
            lookup = await self._call("GET", "/v1/auth/token/lookup-self")
            if lookup.status == 403:
                return SecretUnavailable(
                    SecretFailure.SIGNED_OUT,
                    f"Vault does not accept the token (expired or revoked): {said}")
        return SecretUnavailable(
            SecretFailure.FORBIDDEN,
            f"Vault's policy for this token does not allow reading {where}: {said}")

    def _not_found(self, answer: _Answer, where: str) -> str:
        data = answer.body.get("data") if isinstance(answer.body, dict) else None
        metadata = data.get("metadata") if isinstance(data, dict) else None
        if isinstance(metadata, dict):
            if metadata.get("destroyed") is True:
                return f"The current version of {where} has been destroyed in Vault."
            if metadata.get("deletion_time"):
                return f"The current version of {where} has been deleted in Vault."
        messages = answer.messages()
        if messages:
            return f"Vault has no {where}: {self._said(answer)} (is the mount KV v2?)"
        return f"Vault has no secret at {where}."

    def _value(self, answer: _Answer, where: str, key: str) -> str:
        outer = answer.body.get("data") if isinstance(answer.body, dict) else None
        data = outer.get("data") if isinstance(outer, dict) else None
        if not isinstance(data, dict):
            raise SecretUnavailable(
                SecretFailure.MISCONFIGURED,
                f"Vault's answer for {where} is not a KV version 2 secret (is the mount "
                "KV v2?).")
        if key not in data:
            raise SecretUnavailable(SecretFailure.NOT_FOUND,
                                    f"The secret {where} in Vault has no key {key!r}.")
        value = data[key]
        if not isinstance(value, str):
            raise SecretUnavailable(
                SecretFailure.NOT_FOUND,
                f"The key {key!r} of {where} in Vault holds no text (it is a "
                f"{type(value).__name__ if value is not None else 'null'}).")
        if not value:
            raise SecretUnavailable(SecretFailure.EMPTY,
                                    f"The key {key!r} of {where} in Vault is empty.")
        return value

    def _other(self, answer: _Answer, doing: str) -> SecretUnavailable:
        status = answer.status
        said = self._said(answer)
        if 300 <= status < 400:
            return SecretUnavailable(
                SecretFailure.UNREACHABLE,
                f"Vault redirected the request ({status}) while {doing}; redirects are not "
                "followed (they would carry the token): set Host to the active node.")
        if status == 400:
            return SecretUnavailable(SecretFailure.MISCONFIGURED,
                                     f"Vault refused the request while {doing}: {said}")
        return SecretUnavailable(SecretFailure.UNREACHABLE,
                                 f"Vault answered HTTP {status} while {doing}: {said}")

    def _said(self, answer: _Answer) -> str:
        text = "; ".join(answer.messages()) or f"HTTP {answer.status} without a message"
        for secret in (self.token, *((self.approle.role_id, self.approle.secret_id)
                                     if self.approle else ())):
            if secret:
                text = text.replace(secret, "***")
        return one_line(text)

    async def _call(self, method: str, path: str, *, body: dict[str, str] | None = None,
                    authenticated: bool = True) -> _Answer:
        import httpx  # loaded by `open` already; named here for its exceptions

        headers = {}
        if authenticated and self.token:
            headers["X-Vault-Token"] = self.token
        if self.namespace:
            headers["X-Vault-Namespace"] = self.namespace
        try:
            async with self.client.stream(method, path, headers=headers,
                                          content=json.dumps(body) if body else None) as reply:
                chunks: list[bytes] = []
                size = 0
                async for chunk in reply.aiter_bytes():
                    size += len(chunk)
                    if size > MAX_RESPONSE:
                        raise SecretUnavailable(
                            SecretFailure.UNREACHABLE,
                            f"Vault's answer is larger than {MAX_RESPONSE // 1024} KiB.")
                    chunks.append(chunk)
                status = reply.status_code
                kind = reply.headers.get("content-type", "")
        except httpx.TimeoutException:
            raise SecretUnavailable(
                SecretFailure.TIMED_OUT,
                f"Vault did not answer within {self.timeout:g} seconds.") from None
        except httpx.HTTPError as exc:
            raise SecretUnavailable(SecretFailure.UNREACHABLE,
                                    f"Vault cannot be reached: {_reason(exc)}") from None
        raw = b"".join(chunks)
        try:
            parsed = parse_json(raw) if raw else None
        except ValueError:
            if 300 <= status < 400:
                parsed = None
            else:
                raise SecretUnavailable(
                    SecretFailure.UNREACHABLE,
                    f"The answer (HTTP {status}, {one_line(kind, 60) or 'no content type'}) "
                    "is not Vault's JSON; is Host the Vault server?") from None
        return _Answer(status, parsed)

    async def aclose(self) -> None:
        await self.client.aclose()


def _reason(exc: BaseException) -> str:
    """The innermost cause (a refused connection, a certificate problem), one line."""
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    if isinstance(exc, ssl.SSLCertVerificationError):
        return one_line(f"its certificate is not trusted ({exc.verify_message}); set "
                        "CaBundle to the CA that issued it")
    return one_line(str(exc) or type(exc).__name__)
