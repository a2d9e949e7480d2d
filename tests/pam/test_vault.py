"""The Hashicorp-Vault provider against the loopback Vault stand-in (tests/support/vault.py),
over HTTPS with a trustme CA: token and AppRole sign-in, namespaces, and each failure
followed by a success on the same source."""

from __future__ import annotations

import logging
import socket
import ssl
import time
from collections.abc import Iterator

import pytest
import trustme

from smtp_profile.domain.errors import ValidationFailed
from smtp_profile.domain.secret_reference import SecretFailure
from smtp_profile.pam.registry import provider_type
from smtp_profile.pam.vault import NAME, VaultProviderType, VaultSource
from tests.pam.checks import assert_failure, failure_of, run_clean
from tests.support.vault import Role, VaultStandIn, VaultState

CANARY = "canary-vault-51be0d"
TYPE = VaultProviderType()
REF = {"Secret": "smtp/relay", "Key": "password"}


@pytest.fixture
def state() -> VaultState:
    state = VaultState()
    state.put("secret", "smtp/relay", {"password": f"{CANARY}-1", "username": "relay"})
    return state


@pytest.fixture
def vault(state: VaultState, server_context: ssl.SSLContext) -> Iterator[VaultStandIn]:
    stand_in = VaultStandIn(state, tls=server_context)
    yield stand_in
    stand_in.close()


@pytest.fixture
def ca_pem(ca: trustme.CA) -> str:
    return ca.cert_pem.bytes().decode()


def open_source(vault: VaultStandIn, ca_pem: str, *, timeout: float = 5,
                **settings: str) -> VaultSource:
    return TYPE.open({"Host": vault.url, "CaBundle": ca_pem, **settings}, timeout=timeout)


def test_the_type_is_registered_under_keyfactors_name() -> None:
    assert provider_type(NAME).name == "Hashicorp-Vault"
    names = {spec.name: spec for spec in TYPE.parameters}
    assert [n for n, s in names.items() if s.instance_level] == ["Mount", "Secret", "Key"]
    assert {n for n, s in names.items() if s.secret} == {"Token", "SecretId"}


@pytest.mark.parametrize(("values", "words"), [
    ({"Token": "t"}, "Host (Vault Host"),
    ({"Host": "http://vault.example.com:8200", "Token": "t"}, "must use https"),
    ({"Host": "https://vault.example.com/v1/secret", "Token": "t"}, "no path"),
    ({"Host": "https://u:p@vault.example.com", "Token": "t"}, "no path, user"),
    ({"Host": "ftp://vault.example.com", "Token": "t"}, "https URL"),
    ({"Host": "https://vault.example.com"}, "Give Token, or RoleId and SecretId"),
    ({"Host": "https://v.example", "Token": "t", "RoleId": "r", "SecretId": "s"},
     "not both"),
    ({"Host": "https://v.example", "RoleId": "r"}, "needs both RoleId and SecretId"),
    ({"Host": "https://v.example", "Token": "t", "AppRoleMount": "x"}, "only with RoleId"),
    ({"Host": "https://v.example", "Token": "t", "Namespace": "a/../b"}, "plain segments"),
    ({"Host": "https://v.example", "Token": "t", "CaBundle": "not a pem"}, "PEM"),
    ({"Host": "https://v.example", "Token": "t\nX-Evil: 1"}, "control characters"),
    ({"Host": "https://v.example", "Token": "t", "Key": "password"},
     "parameter of each reference"),
])
def test_settings_that_cannot_work_are_refused_with_the_field_named(
        values: dict[str, str], words: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        TYPE.validate(values)
    assert words in caught.value.message


def test_keyfactors_settings_are_understood() -> None:
    """Keyfactor's Hashicorp-Vault type has Host, Token and Path (`v1/secret/data`)."""
    settings = {"Host": "http://127.0.0.1:8200", "Token": f"{CANARY}-token",
                "Path": "v1/kv/data"}
    TYPE.validate(settings)
    source = TYPE.open(settings, timeout=1)
    assert source.default_mount == "kv"
    assert CANARY not in repr(source)
    run_clean(source.aclose)


def test_a_token_reads_the_key_with_the_namespace_and_never_logs_the_value(
        state: VaultState, vault: VaultStandIn, ca_pem: str,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    state.put("kv", "team/smtp", {"password": f"{CANARY}-ns"}, namespace="team/eu")
    token = state.token(namespace="team/eu")
    source = open_source(vault, ca_pem, Token=token, Namespace="team/eu")

    async def body() -> str:
        try:
            return await source.fetch({"Mount": "kv", "Secret": "team/smtp",
                                       "Key": "password"})
        finally:
            await source.aclose()

    assert run_clean(body) == f"{CANARY}-ns"
    call = vault.calls[-1]
    assert (call.method, call.path) == ("GET", "/v1/kv/data/team/smtp")
    assert call.headers["x-vault-token"] == token
    assert call.headers["x-vault-namespace"] == "team/eu"
    assert CANARY not in caplog.text and token not in caplog.text


def test_each_failure_is_explained_then_the_same_token_source_works(
        state: VaultState, vault: VaultStandIn, ca_pem: str,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    token = state.token(readable={("secret", "smtp/relay")})
    source = open_source(vault, ca_pem, timeout=0.5, Token=token)
    good = f"{CANARY}-1"
    relay = state.mounts[("", "secret")]

    async def expect(failure: SecretFailure, words: str,
                     reference: dict[str, str] = REF) -> None:
        problem = await failure_of(source.fetch(reference))
        assert_failure(problem, failure, words)
        assert CANARY not in problem.detail and token not in problem.detail
        assert await source.fetch(REF) == good

    async def body() -> None:
        try:
            state.put("secret", "smtp/relay", {"password": ""})
            problem = await failure_of(source.fetch(REF))
            assert_failure(problem, SecretFailure.EMPTY, "'password' of secret/smtp/relay")
            state.put("secret", "smtp/relay", {"password": good})
            assert await source.fetch(REF) == good

            await expect(SecretFailure.NOT_FOUND, "has no key 'pass'",
                         {"Secret": "smtp/relay", "Key": "pass"})
            relay["smtp/relay"].data = {"password": 42}
            problem = await failure_of(source.fetch(REF))
            assert_failure(problem, SecretFailure.NOT_FOUND, "holds no text (it is a int)")
            relay["smtp/relay"].data = {"password": good}

            relay["smtp/relay"].deleted = True
            problem = await failure_of(source.fetch(REF))
            assert_failure(problem, SecretFailure.NOT_FOUND, "has been deleted")
            relay["smtp/relay"].deleted = False
            relay["smtp/relay"].destroyed = True
            problem = await failure_of(source.fetch(REF))
            assert_failure(problem, SecretFailure.NOT_FOUND, "has been destroyed")
            relay["smtp/relay"].destroyed = False
            assert await source.fetch(REF) == good

            state.tokens[token].readable = None  # may read anything: 404s show
            await expect(SecretFailure.NOT_FOUND, "no secret at secret/smtp/other",
                         {"Secret": "smtp/other", "Key": "password"})
            await expect(SecretFailure.NOT_FOUND, "no handler for route",
                         {"Mount": "kv1", "Secret": "smtp/relay", "Key": "password"})
            state.tokens[token].readable = {("secret", "smtp/relay")}

            await expect(SecretFailure.FORBIDDEN, "does not allow reading secret/smtp/other",
                         {"Secret": "smtp/other", "Key": "password"})
            lookups = [c for c in vault.calls if c.path == "/v1/auth/token/lookup-self"]
            assert len(lookups) == 1  # only a bare "permission denied" needs it

            kept = state.tokens.pop(token)
            problem = await failure_of(source.fetch(REF))
            assert_failure(problem, SecretFailure.SIGNED_OUT, "invalid token")
            state.tokens[token] = kept
            assert await source.fetch(REF) == good

            state.sealed = True
            problem = await failure_of(source.fetch(REF))
            assert_failure(problem, SecretFailure.UNREACHABLE, "HTTP 503", "Vault is sealed")
            state.sealed = False
            assert await source.fetch(REF) == good

            vault.stall.set()
            problem = await failure_of(source.fetch(REF))
            assert_failure(problem, SecretFailure.TIMED_OUT, "within 0.5 seconds")
            vault.stall.clear()
            vault.release.set()
            assert await source.fetch(REF) == good

            await expect(SecretFailure.MISCONFIGURED, "plain segments",
                         {"Secret": "../sys/raw", "Key": "password"})
            await expect(SecretFailure.MISCONFIGURED, "has no Key", {"Secret": "smtp/relay"})
        finally:
            await source.aclose()

    run_clean(body)
    assert CANARY not in caplog.text and token not in caplog.text


def test_older_vaults_bare_permission_denied_is_told_apart_by_a_token_lookup(
        state: VaultState, vault: VaultStandIn, ca_pem: str) -> None:
    state.legacy_denials = True
    token = state.token(readable={("secret", "smtp/relay")})
    source = open_source(vault, ca_pem, Token=token)

    async def body() -> None:
        try:
            kept = state.tokens.pop(token)
            problem = await failure_of(source.fetch(REF))
            assert_failure(problem, SecretFailure.SIGNED_OUT, "expired or revoked")
            state.tokens[token] = kept
            assert await source.fetch(REF) == f"{CANARY}-1"
            problem = await failure_of(source.fetch({"Secret": "x", "Key": "password"}))
            assert_failure(problem, SecretFailure.FORBIDDEN, "does not allow reading")
            assert await source.fetch(REF) == f"{CANARY}-1"
        finally:
            await source.aclose()

    run_clean(body)


def test_approle_signs_in_once_and_again_when_the_token_is_refused_or_expires(
        state: VaultState, vault: VaultStandIn, ca_pem: str,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret_id = f"{CANARY}-secret-id"
    state.roles["role-1"] = Role("", "role-1", secret_id, {("secret", "smtp/relay")})
    source = open_source(vault, ca_pem, RoleId="role-1", SecretId=secret_id)

    async def body() -> None:
        try:
            assert await source.fetch(REF) == f"{CANARY}-1"
            assert await source.fetch(REF) == f"{CANARY}-1"
            assert state.logins == 1
            login = next(c for c in vault.calls if c.method == "POST")
            assert login.path == "/v1/auth/approle/login"
            assert login.body == {"role_id": "role-1", "secret_id": secret_id}
            assert "x-vault-token" not in login.headers

            state.revoke_all()  # the token's lease ended at Vault
            assert await source.fetch(REF) == f"{CANARY}-1"
            assert state.logins == 2

            source._expires = time.monotonic() - 1  # as if its lease ran out
            calls = len(vault.calls)
            assert await source.fetch(REF) == f"{CANARY}-1"
            assert state.logins == 3
            assert [c.method for c in vault.calls[calls:]] == ["POST", "GET"]  # no 403 first

            state.roles["role-1"].secret_id = "rotated-at-vault"
            state.revoke_all()
            problem = await failure_of(source.fetch(REF))
            assert_failure(problem, SecretFailure.SIGNED_OUT, "AppRole sign-in",
                           "invalid role or secret ID")
            state.roles["role-1"].secret_id = secret_id
            assert await source.fetch(REF) == f"{CANARY}-1"

            problem = await failure_of(source.fetch({"Secret": "other", "Key": "password"}))
            assert_failure(problem, SecretFailure.FORBIDDEN, "does not allow reading")
            assert await source.fetch(REF) == f"{CANARY}-1"
        finally:
            await source.aclose()

    run_clean(body)
    assert CANARY not in caplog.text


def test_a_namespace_other_than_the_tokens_is_refused_then_the_right_one_works(
        state: VaultState, vault: VaultStandIn, ca_pem: str) -> None:
    token = state.token()
    wrong = open_source(vault, ca_pem, Token=token, Namespace="team")
    right = open_source(vault, ca_pem, Token=token)

    async def body() -> None:
        try:
            problem = await failure_of(wrong.fetch(REF))
            assert_failure(problem, SecretFailure.SIGNED_OUT, "invalid token")
            assert await right.fetch(REF) == f"{CANARY}-1"
        finally:
            await wrong.aclose()
            await right.aclose()

    run_clean(body)


def test_tls_is_verified_and_a_vault_that_is_down_is_unreachable(
        state: VaultState, server_context: ssl.SSLContext, ca_pem: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    token = state.token()
    down = TYPE.open({"Host": f"https://127.0.0.1:{port}", "Token": token,
                      "CaBundle": ca_pem}, timeout=5)
    started: list[VaultStandIn] = []

    async def body() -> None:
        try:
            problem = await failure_of(down.fetch(REF))
            assert_failure(problem, SecretFailure.UNREACHABLE, "cannot be reached")
            started.append(VaultStandIn(state, tls=server_context, port=port))
            assert await down.fetch(REF) == f"{CANARY}-1"  # the same source, Vault up
            untrusted = TYPE.open({"Host": started[0].url, "Token": token}, timeout=5)
            try:
                problem = await failure_of(untrusted.fetch(REF))
            finally:
                await untrusted.aclose()
            assert_failure(problem, SecretFailure.UNREACHABLE, "certificate is not trusted",
                           "CaBundle")
        finally:
            await down.aclose()

    try:
        run_clean(body)
    finally:
        for vault in started:
            vault.close()
    assert len(started[0].calls) == 1  # the untrusted connection sent nothing


def test_neither_a_redirect_nor_a_proxy_from_the_environment_gets_the_token(
        state: VaultState, vault: VaultStandIn, ca_pem: str,
        server_context: ssl.SSLContext, monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = VaultStandIn(VaultState(), tls=server_context)
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "HTTP_PROXY"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{elsewhere.port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    token = state.token()
    source = open_source(vault, ca_pem, Token=token)

    async def body() -> None:
        try:
            state.redirect_to = elsewhere.url
            problem = await failure_of(source.fetch(REF))
            assert_failure(problem, SecretFailure.UNREACHABLE, "redirected the request (307)",
                           "not followed")
            state.redirect_to = None
            assert await source.fetch(REF) == f"{CANARY}-1"
        finally:
            await source.aclose()

    try:
        run_clean(body)
    finally:
        elsewhere.close()
    assert elsewhere.calls == []


def test_a_vault_message_that_repeats_the_token_is_shown_without_it(
        state: VaultState, vault: VaultStandIn, ca_pem: str) -> None:
    token = state.token()
    source = open_source(vault, ca_pem, Token=token)
    state.echo_token = True

    async def body() -> None:
        try:
            kept = state.tokens.pop(token)
            problem = await failure_of(source.fetch(REF))
            assert_failure(problem, SecretFailure.SIGNED_OUT, "invalid token ***")
            assert token not in problem.detail
            state.tokens[token] = kept
            assert await source.fetch(REF) == f"{CANARY}-1"
        finally:
            await source.aclose()

    run_clean(body)
