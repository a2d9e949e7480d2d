"""Version 2: credentials as KeyfactorAPISecret objects.

Each of RelayUsername, RelayPassword, ClientId and ClientSecret is either a literal
`SecretValue` or a reference to a PAM provider (`Provider` and `Parameters`, the value
null). Write-only literal secrets come back null; references come back as they were
stored (never a value: the service never has one to show).
"""

from __future__ import annotations

from typing import Any

from smtp_profile.domain.errors import ValidationFailed
from smtp_profile.domain.pam import check_reference_shape
from smtp_profile.domain.profile import Profile, ProfileDraft, RequestHeader
from smtp_profile.domain.secret_reference import SecretReference
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


def _secret_text(secret: SecretIn | None) -> str | None:
    """The literal value of a secret object (None for a reference or nothing)."""
    if secret is None or _is_reference(secret):
        return None
    return secret.secret_value or None


def _is_reference(secret: SecretIn) -> bool:
    return secret.provider not in (None, "", 0, "0") or _names_a_parameter(secret)


def _reference(name: str, secret: SecretIn | None,
               problems: list[str]) -> SecretReference | None:
    """A PAM reference, checked for shape (the provider and its type are checked when the
    draft is used); a value beside a reference is refused rather than guessed between."""
    if secret is None or not _is_reference(secret):
        return None
    if secret.secret_value:
        problems.append(f"{name}: send either SecretValue or Provider with Parameters, "
                        "not both")
        return None
    try:
        return check_reference_shape(name, secret.provider, secret.parameters)
    except ValidationFailed as exc:
        problems.extend(exc.problems)
        return None


def _names_a_parameter(secret: SecretIn) -> bool:
    """Parameters with a value; Keyfactor's schema allows null (or blank) ones, which
    alone name nothing, so `{"SecretValue": "x", "Parameters": {"a": null}}` is a literal."""
    return any(value not in (None, "") for value in (secret.parameters or {}).values())


def _headers(items: list[RequestHeaderIn] | None) -> tuple[RequestHeader, ...] | None:
    if items is None:
        return None
    return tuple(RequestHeader(name=i.name or "", value=i.value or "") for i in items)


def _draft(body: ProfileV2In) -> ProfileDraft:
    problems: list[str] = []
    references = {
        name: _reference(name, secret, problems)
        for name, secret in (("RelayUsername", body.relay_username),
                             ("RelayPassword", body.relay_password),
                             ("ClientId", body.client_id),
                             ("ClientSecret", body.client_secret))
    }
    if problems:
        raise ValidationFailed(problems)
    password = _secret_text(body.relay_password)
    client_secret = _secret_text(body.client_secret)
    return ProfileDraft(
        profile_id=body.id,
        host=body.host,
        port=body.port,
        auth_type=body.relay_authentication_type,
        username=_secret_text(body.relay_username),
        password=Secret(password) if password else None,
        sender_account=body.sender_account,
        sender_name=body.sender_name,
        use_ssl=body.use_ssl,
        client_id=_secret_text(body.client_id),
        client_secret=Secret(client_secret) if client_secret else None,
        token_endpoint=body.token_endpoint,
        scope=body.scope,
        audience=body.audience,
        request_headers=_headers(body.request_headers),
        username_ref=references["RelayUsername"],
        password_ref=references["RelayPassword"],
        client_id_ref=references["ClientId"],
        client_secret_ref=references["ClientSecret"],
    )


def decode_profile(data: dict[str, Any]) -> ProfileDraft:
    return _draft(bind(ProfileV2In, data))


def decode_test(data: dict[str, Any]) -> tuple[ProfileDraft, str | None]:
    body = bind(TestV2In, data)
    return _draft(body), body.test_recipient


def _secret_out(value: str | None, reference: SecretReference | None = None,
                ) -> SecretOut | None:
    if reference is not None:
        return SecretOut(SecretValue=None, Provider=reference.provider_id,
                         Parameters=reference.parameter_map)
    return None if value is None else SecretOut(SecretValue=value, Provider=None, Parameters=None)


def encode_profile(profile: Profile) -> dict[str, Any]:
    headers = profile.request_headers
    return ProfileV2Out(
        Host=profile.host,
        Id=profile.id,
        Port=profile.port,
        RelayAuthenticationType=int(profile.auth_type),
        RelayUsername=_secret_out(profile.username, profile.username_ref),
        RelayPassword=_secret_out(None, profile.password_ref),
        SenderAccount=profile.sender_account,
        SenderName=profile.sender_name,
        UseSSL=profile.use_ssl,
        ClientId=_secret_out(profile.client_id, profile.client_id_ref),
        ClientSecret=_secret_out(None, profile.client_secret_ref),
        TokenEndpoint=profile.token_endpoint,
        Scope=profile.scope,
        Audience=profile.audience,
        RequestHeaders=None if headers is None else [
            RequestHeaderOut(Name=h.name, Value=h.value) for h in headers
        ],
    ).model_dump(by_alias=True)
