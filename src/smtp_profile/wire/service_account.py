"""The service account key's JSON shapes (GET/PUT/DELETE /SMTP/OAuth/ServiceAccount).

This service's own shape (unknown fields refused, like relay Options). The PUT carries
the key file Google hands out (`KeyFile`: its JSON object, or its text) and the relay the
key is saved for; the answer shows everything but the private key, which is write-only.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from smtp_profile.domain.errors import DomainError, ErrorKind, ValidationFailed
from smtp_profile.domain.moments import as_utc
from smtp_profile.domain.service_account import GMAIL_HOST, StoredServiceAccount
from smtp_profile.wire.binding import bind

DEFAULT_PORT = 587


class ServiceAccountIn(BaseModel):
    """Upload a service account key (replaces the stored one)."""

    model_config = ConfigDict(strict=True, extra="forbid", populate_by_name=False,
                              frozen=True, str_max_length=16384, defer_build=True)

    key_file: str | dict[str, Any] = Field(
        alias="KeyFile",
        description="The service account's JSON key file: its object, or its text. The "
        "private key is write-only and stored encrypted; client_email, private_key_id, "
        "token_uri and client_id are kept readable.")
    host: str | None = Field(
        None, alias="Host",
        description=f"The relay the key's tokens may go to; {GMAIL_HOST} when absent.")
    port: int | None = Field(None, alias="Port",
                             description=f"The relay's port; {DEFAULT_PORT} when absent.")
    use_ssl: bool | None = Field(None, alias="UseSSL",
                                 description="Must be true (or absent): tokens go only over TLS.")


class ServiceAccountOut(BaseModel):
    model_config = ConfigDict(populate_by_name=False, frozen=True, defer_build=True)

    configured: bool = Field(alias="Configured", description="Whether a key is stored.")
    client_email: str | None = Field(alias="ClientEmail")
    private_key_id: str | None = Field(alias="PrivateKeyId")
    client_id: str | None = Field(
        alias="ClientId", description="A type-3 profile uses the key when its ClientId is "
        "this and its TokenEndpoint is TokenUri.")
    token_uri: str | None = Field(alias="TokenUri")
    project_id: str | None = Field(alias="ProjectId")
    host: str | None = Field(alias="Host")
    port: int | None = Field(alias="Port")
    use_ssl: bool | None = Field(alias="UseSSL")
    private_key_stored: bool = Field(alias="PrivateKeyStored")
    updated_at: str | None = Field(alias="UpdatedAt")
    updated_by: str | None = Field(alias="UpdatedBy")


class ServiceAccountUpload:
    """A decoded PUT body."""

    def __init__(self, key_file: str, host: str, port: int, use_ssl: bool | None) -> None:
        self.key_file = key_file
        self.host = host
        self.port = port
        self.use_ssl = use_ssl


def decode_service_account(data: dict[str, Any]) -> ServiceAccountUpload:
    body = bind(ServiceAccountIn, data)
    key_file = body.key_file
    if isinstance(key_file, dict):
        key_file = json.dumps(key_file)
    elif not key_file.strip():
        raise ValidationFailed(["KeyFile is required"])
    return ServiceAccountUpload(key_file, body.host or GMAIL_HOST, body.port or DEFAULT_PORT,
                                body.use_ssl)


def encode_service_account(stored: StoredServiceAccount) -> dict[str, Any]:
    account = stored.account
    shown: dict[str, Any] = dict.fromkeys(
        ("ClientEmail", "PrivateKeyId", "ClientId", "TokenUri", "ProjectId", "Host", "Port",
         "UseSSL"))
    if account is not None:
        key, relay = account.key, account.relay
        shown.update(ClientEmail=key.client_email, PrivateKeyId=key.private_key_id,
                     ClientId=key.client_id, TokenUri=key.token_uri,
                     ProjectId=key.project_id, Host=relay.host, Port=relay.port,
                     UseSSL=relay.use_ssl)
    updated = (None if stored.updated_at is None
               else as_utc(stored.updated_at).isoformat().replace("+00:00", "Z"))
    return ServiceAccountOut.model_validate({
        **shown, "Configured": account is not None, "PrivateKeyStored": account is not None,
        "UpdatedAt": updated, "UpdatedBy": stored.updated_by,
    }).model_dump(by_alias=True)


_TAG = re.compile(r'(?:W/)?"service-account-([0-9]{1,9})"')


def service_account_etag(version: int) -> str:
    """Distinct from the profile's and the options' ETags, so none passes for another."""
    return f'"service-account-{version}"'


def service_account_version(if_match: str | None) -> int | None:
    """The version an `If-Match` insists on; None when absent or `*`."""
    if if_match is None or if_match.strip() == "*":
        return None
    match = _TAG.fullmatch(if_match.split(",")[0].strip())
    if match is None:
        raise DomainError(ErrorKind.PRECONDITION_FAILED,
                          f"If-Match {if_match[:40]!r} is not an ETag of the service account; "
                          "use the ETag header of a GET /SMTP/OAuth/ServiceAccount.")
    return int(match.group(1))
