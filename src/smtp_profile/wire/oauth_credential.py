"""The shapes of `/SMTP/OAuth/Credential`: this service's extension, not Keyfactor's.

PUT takes the certificate as PEM (`Certificate`, the chain with the certificate first,
and `PrivateKey`) or as base64 PKCS#12 (`Pkcs12`); `Pkcs12Password` opens either an
encrypted PEM key or the PKCS#12 file. GET never returns the key or the password: only
what identifies the certificate (subject, issuer, serial, fingerprints, `x5t#S256`,
not-after) and where it is bound. Unknown fields are refused by name (only this service's
page and CLI send this shape).
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import date
from typing import Any

from pydantic import ConfigDict, Field

from smtp_profile.domain.errors import DomainError, ErrorKind, ValidationFailed
from smtp_profile.domain.oauth_credential import (
    ALGORITHMS,
    CertificateUpload,
    StoredCredentials,
    describe,
)
from smtp_profile.domain.secrets import Secret
from smtp_profile.usecases.oauth_credentials import CredentialChange
from smtp_profile.wire.binding import bind
from smtp_profile.wire.models import _In, _Out
from smtp_profile.wire.scalars import WholeNumber

MAX_FIELD_CHARACTERS = 48 * 1024
_TAG = re.compile(r'(?:W/)?"oauth-credential-([0-9]{1,9})"')


class OAuthCredentialIn(_In):
    """PUT /SMTP/OAuth/Credential. Binding fields not sent are the stored profile's."""

    model_config = ConfigDict(str_max_length=MAX_FIELD_CHARACTERS)

    certificate: str | None = Field(
        None, alias="Certificate",
        description="PEM: the certificate first, then any intermediates.")
    private_key: str | None = Field(
        None, alias="PrivateKey", description="PEM private key (write-only; never returned).")
    pkcs12: str | None = Field(
        None, alias="Pkcs12", description="Base64 PKCS#12 (.pfx) instead of PEM.")
    pkcs12_password: str | None = Field(
        None, alias="Pkcs12Password",
        description="Opens Pkcs12 or an encrypted PrivateKey (write-only).")
    algorithm: str | None = Field(
        None, alias="Algorithm",
        description="PS256 (default for RSA), RS256, or ES256 (P-256 keys).")
    token_endpoint: str | None = Field(None, alias="TokenEndpoint")
    client_id: str | None = Field(None, alias="ClientId")
    host: str | None = Field(None, alias="Host")
    port: WholeNumber | None = Field(None, alias="Port")
    use_ssl: bool | None = Field(None, alias="UseSSL")
    client_secret_expires: str | None = Field(
        None, alias="ClientSecretExpires",
        description="The client secret's expiry date (YYYY-MM-DD), as Entra ID shows it; "
        "Status warns 30, 14 and 3 days before.")
    # What GET returns is accepted back (and ignored): read-only.
    certificate_info: dict[str, Any] | None = Field(None, alias="CertificateInfo")
    in_use: bool | None = Field(None, alias="InUse")


class CertificateInfoOut(_Out):
    subject: str = Field(alias="Subject")
    issuer: str = Field(alias="Issuer")
    serial_number: str = Field(alias="SerialNumber")
    not_before: str = Field(alias="NotBefore")
    not_after: str = Field(alias="NotAfter")
    sha256_fingerprint: str = Field(alias="Sha256Fingerprint")
    thumbprint: str = Field(alias="Thumbprint",
                            description="SHA-1, hex: what Entra ID shows after the upload.")
    x5t_s256: str = Field(alias="X5tS256",
                          description="The assertion's x5t#S256 header (base64url SHA-256).")
    algorithm: str = Field(alias="Algorithm")
    key_type: str = Field(alias="KeyType")


class OAuthCredentialOut(_Out):
    certificate_info: CertificateInfoOut | None = Field(alias="CertificateInfo")
    token_endpoint: str | None = Field(alias="TokenEndpoint")
    client_id: str | None = Field(alias="ClientId")
    host: str | None = Field(alias="Host")
    port: int | None = Field(alias="Port")
    use_ssl: bool | None = Field(alias="UseSSL")
    in_use: bool = Field(alias="InUse", description="Bound to the stored profile: its "
                         "token requests are signed with this certificate.")
    client_secret_expires: str | None = Field(alias="ClientSecretExpires")


def decode_credential(data: dict[str, Any]) -> CredentialChange:
    body = bind(OAuthCredentialIn, data)
    problems: list[str] = []
    pkcs12: bytes | None = None
    if body.pkcs12:
        try:
            pkcs12 = base64.b64decode("".join(body.pkcs12.split()), validate=True)
        except (binascii.Error, ValueError):
            problems.append("Pkcs12 must be base64")
    if body.algorithm is not None and body.algorithm not in ALGORITHMS:
        problems.append(f"Algorithm must be one of {', '.join(ALGORITHMS)}")
    expires: date | None = None
    if body.client_secret_expires:
        try:
            expires = date.fromisoformat(body.client_secret_expires[:10])
        except ValueError:
            problems.append("ClientSecretExpires must be a date, YYYY-MM-DD")
    if problems:
        raise ValidationFailed(problems)
    upload = CertificateUpload(
        certificate_pem=body.certificate or None,
        private_key_pem=Secret(body.private_key) if body.private_key else None,
        pkcs12=pkcs12,
        password=Secret(body.pkcs12_password) if body.pkcs12_password else None,
        algorithm=body.algorithm)
    return CredentialChange(upload=upload, token_endpoint=body.token_endpoint or None,
                            client_id=body.client_id or None, host=body.host or None,
                            port=body.port, use_ssl=body.use_ssl,
                            client_secret_expires=expires)


def encode_credential(stored: StoredCredentials, *, in_use: bool) -> dict[str, Any]:
    cert = stored.credentials.certificate
    binding = None if cert is None else cert.binding
    expires = stored.credentials.client_secret_expires
    return OAuthCredentialOut(
        CertificateInfo=None if cert is None else CertificateInfoOut(**describe(cert)),
        TokenEndpoint=binding.token_endpoint if binding else None,
        ClientId=binding.client_id if binding else None,
        Host=binding.host if binding else None,
        Port=binding.port if binding else None,
        UseSSL=binding.use_ssl if binding else None,
        InUse=in_use,
        ClientSecretExpires=expires.isoformat() if expires else None,
    ).model_dump(by_alias=True)


def credential_etag(version: int) -> str:
    return f'"oauth-credential-{version}"'


def credential_version(if_match: str | None) -> int | None:
    """The version an `If-Match` insists on; None when absent or `*`."""
    if if_match is None or if_match.strip() == "*":
        return None
    match = _TAG.fullmatch(if_match.split(",")[0].strip())
    if match is None:
        raise DomainError(ErrorKind.PRECONDITION_FAILED,
                          f"If-Match {if_match[:40]!r} is not an ETag of the OAuth credential; "
                          "use the ETag header of a GET /SMTP/OAuth/Credential.")
    return int(match.group(1))
