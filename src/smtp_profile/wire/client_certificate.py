"""The shapes of /SMTP/ClientCertificate: this service's own route, not Keyfactor's.

The private key, the key's password and the PKCS#12 password are write-only: no output
shape has a field for them.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field

from smtp_profile.domain.client_certificate import ClientCertificateInput
from smtp_profile.domain.errors import DomainError, ErrorKind
from smtp_profile.domain.secrets import Secret
from smtp_profile.usecases.client_certificates import ClientCertificateView
from smtp_profile.wire.binding import bind
from smtp_profile.wire.models import _In, _Out

_TAG = re.compile(r'^(?:W/)?"client-certificate-(\d+)"$')


class ClientCertificateIn(_In):
    """PUT /SMTP/ClientCertificate: PEM (certificate chain + key) or PKCS#12 in base64."""

    certificate_pem: str | None = Field(
        None, alias="CertificatePem",
        description="The client certificate first, then its intermediates, as PEM.")
    private_key_pem: str | None = Field(
        None, alias="PrivateKeyPem", description="Write-only. The PEM private key "
        "(PKCS#8, PKCS#1 or SEC1; encrypted if PrivateKeyPassword is given).")
    private_key_password: str | None = Field(
        None, alias="PrivateKeyPassword",
        description="Write-only, never stored: opens an encrypted PrivateKeyPem.")
    pkcs12: str | None = Field(None, alias="Pkcs12",
                               description="Write-only. A PKCS#12 (.p12/.pfx) file in base64.")
    pkcs12_password: str | None = Field(
        None, alias="Pkcs12Password",
        description="Write-only, never stored: the key is kept re-encoded and sealed.")
    sasl_external: bool | None = Field(
        None, alias="SaslExternal",
        description="Send AUTH EXTERNAL when the relay offers it (anonymous profiles).")


class BoundToOut(_Out):
    host: str = Field(alias="Host")
    port: int = Field(alias="Port")
    use_ssl: bool = Field(alias="UseSSL")
    trust: dict[str, Any] = Field(alias="Trust",
                                  description="The relay options' checks when it was saved.")


class ClientCertificateOut(_Out):
    configured: bool = Field(alias="Configured")
    subject: str | None = Field(None, alias="Subject")
    issuer: str | None = Field(None, alias="Issuer")
    serial_number: str | None = Field(None, alias="SerialNumber", description="Hex.")
    sha256: str | None = Field(None, alias="Sha256",
                               description="SHA-256 fingerprint of the certificate (hex).")
    not_before: str | None = Field(None, alias="NotBefore")
    not_after: str | None = Field(None, alias="NotAfter")
    client_auth_usage: bool | None = Field(
        None, alias="ClientAuthUsage",
        description="Extended Key Usage allows clientAuth (or is absent).")
    chain_length: int | None = Field(None, alias="ChainLength")
    certificate_pem: str | None = Field(None, alias="CertificatePem",
                                        description="The chain (public).")
    sasl_external: bool | None = Field(None, alias="SaslExternal")
    bound_to: BoundToOut | None = Field(None, alias="BoundTo")
    usable: bool = Field(alias="Usable", description="Presented to the stored relay now.")
    unusable_reasons: list[str] = Field(alias="UnusableReasons")
    updated_at: str | None = Field(None, alias="UpdatedAt")
    updated_by: str | None = Field(None, alias="UpdatedBy")


def decode_client_certificate(data: dict[str, Any]) -> ClientCertificateInput:
    body = bind(ClientCertificateIn, data)

    def secret(value: str | None) -> Secret | None:
        return None if value is None else Secret(value)

    return ClientCertificateInput(
        certificate_pem=body.certificate_pem,
        private_key_pem=secret(body.private_key_pem),
        private_key_password=secret(body.private_key_password),
        pkcs12_base64=secret(body.pkcs12), pkcs12_password=secret(body.pkcs12_password),
        sasl_external=bool(body.sasl_external))


def encode_client_certificate(view: ClientCertificateView) -> dict[str, Any]:
    stored = view.stored
    certificate = stored.certificate
    if certificate is None:
        return ClientCertificateOut(
            Configured=False, Subject=None, Issuer=None, SerialNumber=None, Sha256=None,
            NotBefore=None, NotAfter=None, ClientAuthUsage=None, ChainLength=None,
            CertificatePem=None, SaslExternal=None, BoundTo=None, Usable=False,
            UnusableReasons=[], UpdatedAt=None, UpdatedBy=None).model_dump(by_alias=True)
    facts = certificate.facts
    destination = certificate.destination
    return ClientCertificateOut(
        Configured=True, Subject=facts.subject, Issuer=facts.issuer,
        SerialNumber=facts.serial, Sha256=facts.sha256,
        NotBefore=facts.not_before.isoformat(), NotAfter=facts.not_after.isoformat(),
        ClientAuthUsage=facts.client_auth,
        ChainLength=certificate.chain_pem.count("-----BEGIN CERTIFICATE-----"),
        CertificatePem=certificate.chain_pem, SaslExternal=certificate.sasl_external,
        BoundTo=BoundToOut(Host=destination.host, Port=destination.port,
                           UseSSL=destination.use_ssl, Trust=certificate.trust.to_json()),
        Usable=not view.unusable, UnusableReasons=view.unusable,
        UpdatedAt=stored.updated_at.isoformat() if stored.updated_at else None,
        UpdatedBy=stored.updated_by,
    ).model_dump(by_alias=True)


def client_certificate_etag(version: int) -> str:
    return f'"client-certificate-{version}"'


def client_certificate_version(if_match: str | None) -> int | None:
    """The version an `If-Match` insists on; None when absent or `*`."""
    if if_match is None or if_match.strip() == "*":
        return None
    match = _TAG.fullmatch(if_match.split(",")[0].strip())
    if match is None:
        raise DomainError(ErrorKind.PRECONDITION_FAILED,
                          f"If-Match {if_match[:40]!r} is not an ETag of the client "
                          "certificate; use the ETag header of a GET "
                          "/SMTP/ClientCertificate.")
    return int(match.group(1))
