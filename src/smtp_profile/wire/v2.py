"""Version 2: credentials as KeyfactorAPISecret objects; write-only secrets come back null."""

from __future__ import annotations

from typing import Any

from smtp_profile.domain.errors import DomainError, ErrorKind
from smtp_profile.domain.profile import Profile, ProfileDraft, RequestHeader
from smtp_profile.domain.secrets import Secret
from smtp_profile.wire.binding import bind
from smtp_profile.wire.models import (
    ProfileV2In,
    ProfileV2Out,
    RequestHeaderIn,
    RequestHeaderOut,
    SecretIn,
    SecretOut,
    TestV2In,
)


def _secret_text(name: str, secret: SecretIn | None) -> str | None:
    """The literal value of a secret object; PAM references are refused, not faked."""
    if secret is None:
        return None
    if secret.provider not in (None, "", 0, "0") or _names_a_parameter(secret):
        raise DomainError(
            ErrorKind.UNSUPPORTED_SECRET_PROVIDER,
            f"{name}: PAM providers are not supported by this service; send the value as "
            '{"SecretValue": "..."} and it is stored encrypted here.',
        )
    return secret.secret_value or None


def _names_a_parameter(secret: SecretIn) -> bool:
    """Parameters with a value; Keyfactor's schema allows null (or blank) ones, which
    alone name nothing, so `{"SecretValue": "x", "Parameters": {"a": null}}` is a literal."""
    return any(value not in (None, "") for value in (secret.parameters or {}).values())


def _headers(items: list[RequestHeaderIn] | None) -> tuple[RequestHeader, ...] | None:
    if items is None:
        return None
    return tuple(RequestHeader(name=i.name or "", value=i.value or "") for i in items)


def _draft(body: ProfileV2In) -> ProfileDraft:
    password = _secret_text("RelayPassword", body.relay_password)
    client_secret = _secret_text("ClientSecret", body.client_secret)
    return ProfileDraft(
        profile_id=body.id,
        host=body.host,
        port=body.port,
        auth_type=body.relay_authentication_type,
        username=_secret_text("RelayUsername", body.relay_username),
        password=Secret(password) if password else None,
        sender_account=body.sender_account,
        sender_name=body.sender_name,
        use_ssl=body.use_ssl,
        client_id=_secret_text("ClientId", body.client_id),
        client_secret=Secret(client_secret) if client_secret else None,
        token_endpoint=body.token_endpoint,
        scope=body.scope,
        audience=body.audience,
        request_headers=_headers(body.request_headers),
    )


def decode_profile(data: dict[str, Any]) -> ProfileDraft:
    return _draft(bind(ProfileV2In, data))


def decode_test(data: dict[str, Any]) -> tuple[ProfileDraft, str | None]:
    body = bind(TestV2In, data)
    return _draft(body), body.test_recipient


def _secret_out(value: str | None) -> SecretOut | None:
    return None if value is None else SecretOut(SecretValue=value, Provider=None, Parameters=None)


def encode_profile(profile: Profile) -> dict[str, Any]:
    headers = profile.request_headers
    return ProfileV2Out(
        Host=profile.host,
        Id=profile.id,
        Port=profile.port,
        RelayAuthenticationType=int(profile.auth_type),
        RelayUsername=_secret_out(profile.username),
        RelayPassword=None,
        SenderAccount=profile.sender_account,
        SenderName=profile.sender_name,
        UseSSL=profile.use_ssl,
        ClientId=_secret_out(profile.client_id),
        ClientSecret=None,
        TokenEndpoint=profile.token_endpoint,
        Scope=profile.scope,
        Audience=profile.audience,
        RequestHeaders=None if headers is None else [
            RequestHeaderOut(Name=h.name, Value=h.value) for h in headers
        ],
    ).model_dump(by_alias=True)
