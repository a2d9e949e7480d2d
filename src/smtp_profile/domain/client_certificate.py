"""The relay client certificate: a chain and its private key, bound to one destination.

Why a binding: the key proves who this service is. Presenting it to a server it was not
saved for would let anyone allowed to change Host/Port/UseSSL (or the relay's trust
options) borrow that identity, like a stored password. So the certificate keeps the
destination and the `TrustBinding` in force when it was saved, and is presented only
while both still hold; otherwise it is "unusable until set again", and every status says
so.

Input is PEM (chain + key, the key optionally encrypted) or PKCS#12 with its password.
Either way the key is turned into an unencrypted PKCS#8 PEM held in a `Secret` (the
store seals it with AES-GCM); no PKCS#12 or key password is kept.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, TypeGuard

if TYPE_CHECKING:  # `cryptography` is imported where used, not at start (architecture.md)
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

    _PrivateKey = (rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
                   | ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey)

from smtp_profile.domain.addresses import AddressError, ascii_host
from smtp_profile.domain.errors import ValidationFailed
from smtp_profile.domain.relay_options import TrustBinding
from smtp_profile.domain.secrets import Secret

MAX_PEM_LENGTH = 32 * 1024
MAX_PKCS12_LENGTH = 32 * 1024
MAX_CHAIN = 8


@dataclass(frozen=True)
class Destination:
    """Where a client certificate may be presented: the relay's Host, Port and UseSSL."""

    host: str
    port: int
    use_ssl: bool

    @classmethod
    def of(cls, host: str | None, port: int, use_ssl: bool) -> Destination | None:
        if not host:
            return None
        try:
            return cls(ascii_host(host), port, use_ssl)
        except AddressError:
            return None

    def __str__(self) -> str:
        return f"{self.host}:{self.port} ({'UseSSL' if self.use_ssl else 'no TLS'})"


@dataclass(frozen=True)
class CertificateFacts:
    """What a certificate says, for reports, status and warnings (no secret in here)."""

    subject: str
    issuer: str
    serial: str
    sha256: str
    not_before: datetime
    not_after: datetime
    client_auth: bool
    """Extended Key Usage allows clientAuth (or the certificate has no EKU at all)."""

    def to_details(self) -> dict[str, object]:
        return {"subject": self.subject, "issuer": self.issuer, "serial": self.serial,
                "sha256": self.sha256, "not_after": self.not_after.isoformat(),
                "client_auth_usage": self.client_auth}


@dataclass(frozen=True)
class ClientCertificate:
    """The stored client certificate; `key` is the PKCS#8 PEM private key."""

    chain_pem: str
    key: Secret = field(repr=False)
    destination: Destination
    trust: TrustBinding
    sasl_external: bool = False
    """Send `AUTH EXTERNAL =` when the relay offers it (anonymous profiles only)."""

    @property
    def facts(self) -> CertificateFacts:
        from cryptography import x509

        return facts_of(x509.load_pem_x509_certificates(self.chain_pem.encode("ascii"))[0])

    def unusable_reasons(self, destination: Destination | None,
                         trust: TrustBinding) -> list[str]:
        """Why the key may not be presented to `destination` under `trust` ([] if it may)."""
        reasons: list[str] = []
        if destination != self.destination:
            now = "no relay" if destination is None else str(destination)
            reasons.append(f"it was saved for {self.destination}, the profile now names "
                           f"{now}")
        changed = self.trust.changed_settings(trust)
        if changed:
            reasons.append("the relay options' " + ", ".join(changed)
                           + " changed since it was saved")
        return reasons


def facts_of(cert: x509.Certificate) -> CertificateFacts:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID

    try:
        usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        client_auth = (ExtendedKeyUsageOID.CLIENT_AUTH in usage
                       or ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in usage)
    except x509.ExtensionNotFound:
        client_auth = True
    return CertificateFacts(
        subject=cert.subject.rfc4514_string(), issuer=cert.issuer.rfc4514_string(),
        serial=format(cert.serial_number, "x"),
        sha256=cert.fingerprint(hashes.SHA256()).hex(),
        not_before=cert.not_valid_before_utc, not_after=cert.not_valid_after_utc,
        client_auth=client_auth)


@dataclass(frozen=True)
class ClientCertificateInput:
    """A PUT's fields as sent; either PEM (certificate + key) or PKCS#12, not both."""

    certificate_pem: str | None = None
    private_key_pem: Secret | None = field(default=None, repr=False)
    private_key_password: Secret | None = field(default=None, repr=False)
    pkcs12_base64: Secret | None = field(default=None, repr=False)
    pkcs12_password: Secret | None = field(default=None, repr=False)
    sasl_external: bool = False


def _is_supported_key(key: object) -> TypeGuard[_PrivateKey]:
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

    return isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
                      | ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey)


def build_client_certificate(given: ClientCertificateInput, destination: Destination | None,
                             trust: TrustBinding) -> ClientCertificate:
    """Validate `given` and bind it to `destination` and `trust`; ValidationFailed names
    every problem (never the key or a password)."""
    from cryptography.hazmat.primitives import serialization

    if destination is None:
        raise ValidationFailed(["Save a profile with a Host first: a client certificate is "
                                "bound to the relay's Host, Port and UseSSL"])
    pem_given = given.certificate_pem is not None or given.private_key_pem is not None
    p12_given = given.pkcs12_base64 is not None
    if pem_given == p12_given:
        raise ValidationFailed(["Send either CertificatePem and PrivateKeyPem, or Pkcs12 "
                                "(base64) with Pkcs12Password"])
    if p12_given:
        chain, key = _from_pkcs12(given)
    else:
        chain, key = _from_pem(given)
    if len(chain) > MAX_CHAIN:
        raise ValidationFailed([f"The chain may hold at most {MAX_CHAIN} certificates"])
    leaf = chain[0]
    if leaf.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) != \
            key.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo):
        raise ValidationFailed(["The private key does not belong to the (first) certificate"])
    chain_pem = "".join(c.public_bytes(serialization.Encoding.PEM).decode("ascii")
                        for c in chain)
    key_pem = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode("ascii")
    return ClientCertificate(chain_pem, Secret(key_pem), destination, trust,
                             given.sasl_external)


def _password(secret: Secret | None) -> bytes | None:
    return secret.reveal().encode("utf-8") if secret is not None and secret.reveal() else None


def _from_pem(given: ClientCertificateInput,
              ) -> tuple[list[x509.Certificate], _PrivateKey]:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    problems: list[str] = []
    text = (given.certificate_pem or "").strip()
    chain: list[x509.Certificate] = []
    if not text:
        problems.append("CertificatePem is required with PrivateKeyPem")
    elif len(text) > MAX_PEM_LENGTH:
        problems.append(f"CertificatePem must be at most {MAX_PEM_LENGTH} characters")
    else:
        try:
            chain = x509.load_pem_x509_certificates(text.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            problems.append("CertificatePem must hold PEM certificates, the client's first "
                            "(-----BEGIN CERTIFICATE----- ...)")
    key_text = given.private_key_pem.reveal().strip() if given.private_key_pem else ""
    key: _PrivateKey | None = None
    if not key_text:
        problems.append("PrivateKeyPem is required with CertificatePem")
    elif len(key_text) > MAX_PEM_LENGTH:
        problems.append(f"PrivateKeyPem must be at most {MAX_PEM_LENGTH} characters")
    else:
        try:
            loaded = serialization.load_pem_private_key(
                key_text.encode("ascii"), _password(given.private_key_password))
        except (ValueError, TypeError, UnicodeEncodeError):
            loaded = None
            problems.append("PrivateKeyPem is not a PEM private key, or PrivateKeyPassword "
                            "is missing or wrong for an encrypted key")
        if loaded is not None:
            if _is_supported_key(loaded):
                key = loaded
            else:
                problems.append("PrivateKeyPem must be an RSA, EC or EdDSA key")
    if problems or key is None:
        raise ValidationFailed(problems or ["PrivateKeyPem is required"])
    return chain, key


def _from_pkcs12(given: ClientCertificateInput,
                 ) -> tuple[list[x509.Certificate], _PrivateKey]:
    from cryptography.hazmat.primitives.serialization import pkcs12

    assert given.pkcs12_base64 is not None
    text = "".join(given.pkcs12_base64.reveal().split())
    if len(text) > MAX_PKCS12_LENGTH * 4 // 3 + 4:
        raise ValidationFailed([f"Pkcs12 must be at most {MAX_PKCS12_LENGTH} bytes"])
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationFailed(["Pkcs12 must be the PKCS#12 file in base64"]) from None
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(
            data, _password(given.pkcs12_password))
    except (ValueError, TypeError):
        raise ValidationFailed(["Pkcs12 cannot be opened: not a PKCS#12 file, or "
                                "Pkcs12Password is missing or wrong"]) from None
    if key is None or cert is None:
        raise ValidationFailed(["Pkcs12 must hold a certificate and its private key"])
    if not _is_supported_key(key):
        raise ValidationFailed(["Pkcs12's key must be an RSA, EC or EdDSA key"])
    return [cert, *extra], key


@dataclass(frozen=True)
class StoredClientCertificate:
    """The stored certificate (None: none stored) and the version every write changes."""

    certificate: ClientCertificate | None
    version: int
    updated_at: datetime | None = None
    updated_by: str | None = None
