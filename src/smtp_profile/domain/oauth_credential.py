"""Certificate credentials for OAuth client credentials (RFC 7523 `private_key_jwt`).

Instead of a ClientSecret, a type-3 profile may authenticate to its token endpoint with a
short JWT signed by a certificate's private key (Entra ID recommends it). The certificate
and key are this service's extension (`/SMTP/OAuth/Credential`); Keyfactor's GET/PUT
/SMTP shapes stay as they are.

The binding rule is the client secret's: the key only signs assertions for the
TokenEndpoint and ClientId it was saved for, and only while the profile's relay (Host,
Port, UseSSL) is the one it was saved with, since the token the assertion buys is sent
there. A type-3 profile needs no ClientSecret when a certificate credential is bound to
its destination, and the certificate is then used instead of any stored client secret.

Pure: parsing and checking with `cryptography` (no I/O); signing is the oauth adapter's.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # `cryptography` is imported where used, not at start (architecture.md)
    from cryptography import x509

from smtp_profile.domain.addresses import ascii_host
from smtp_profile.domain.errors import DomainError, ErrorKind, ValidationFailed
from smtp_profile.domain.oauth import endpoint_destination
from smtp_profile.domain.relay_options import DEFAULT_TRUST, TrustBinding
from smtp_profile.domain.secrets import Secret
from smtp_profile.domain.warnings import Severity, StatusWarning

MIN_RSA_BITS = 2048
MAX_CHAIN_CERTIFICATES = 10
MAX_PEM_CHARACTERS = 48 * 1024
RSA_ALGORITHMS = ("PS256", "RS256")
EC_ALGORITHMS = ("ES256",)
ALGORITHMS = RSA_ALGORITHMS + EC_ALGORITHMS
# Entra ID's current documentation asks for PS256 and x5t#S256; RS256 with x5t (SHA-1)
# is what its older documentation and other providers know. Both headers are sent.
DEFAULT_RSA_ALGORITHM = "PS256"
WARNING_DAYS = (30, 14, 3)


@dataclass(frozen=True)
class CredentialBinding:
    """Where the key may be used: the token endpoint and client it signs for, and the relay
    the token it buys is sent to."""

    token_endpoint: str
    client_id: str
    host: str
    port: int
    use_ssl: bool

    def destination(self) -> tuple[object, ...]:
        return (endpoint_destination(self.token_endpoint), self.client_id,
                ascii_host(self.host), self.port, self.use_ssl)

    def changed_fields(self, token_endpoint: str | None, client_id: str | None,
                       host: str | None, port: int, use_ssl: bool) -> list[str]:
        """The Keyfactor names of the profile fields that differ from this binding."""
        if not (token_endpoint and client_id and host):
            return ["TokenEndpoint", "ClientId", "Host"]
        try:
            other = CredentialBinding(token_endpoint, client_id, host, port,
                                      use_ssl).destination()
        except ValueError:
            return ["TokenEndpoint"]
        names = ("TokenEndpoint", "ClientId", "Host", "Port", "UseSSL")
        return [n for n, a, b in zip(names, self.destination(), other, strict=True) if a != b]


@dataclass(frozen=True)
class CertificateCredential:
    """A certificate (with its chain) and its private key; the key never prints."""

    certificate_pem: str
    private_key: Secret = field(repr=False)
    """The key as unencrypted PKCS#8 PEM; sealed at rest."""
    algorithm: str
    binding: CredentialBinding
    trust: TrustBinding = DEFAULT_TRUST
    """The relay options' certificate checks when the key was saved: like a stored
    secret's, the token it buys only goes to a relay verified as it was then."""

    @property
    def certificate(self) -> x509.Certificate:
        from cryptography import x509

        return x509.load_pem_x509_certificates(self.certificate_pem.encode())[0]

    @property
    def der(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return self.certificate.public_bytes(serialization.Encoding.DER)

    @property
    def x5t_s256(self) -> str:
        """Base64url SHA-256 of the DER certificate: the `x5t#S256` header."""
        return _b64url(hashlib.sha256(self.der).digest())

    @property
    def x5t(self) -> str:
        """Base64url SHA-1 of the DER certificate: the `x5t` header Entra ID documents."""
        return _b64url(hashlib.sha1(self.der, usedforsecurity=False).digest())

    @property
    def thumbprint(self) -> str:
        """The SHA-1 thumbprint in hex, as Entra ID's portal shows it after the upload."""
        return hashlib.sha1(self.der, usedforsecurity=False).hexdigest().upper()

    @property
    def sha256_fingerprint(self) -> str:
        return hashlib.sha256(self.der).hexdigest().upper()

    @property
    def not_after(self) -> datetime:
        return self.certificate.not_valid_after_utc

    def bound_to(self, token_endpoint: str | None, client_id: str | None,
                 host: str | None, port: int, use_ssl: bool) -> bool:
        return not self.binding.changed_fields(token_endpoint, client_id, host, port, use_ssl)


@dataclass(frozen=True)
class OAuthCredentials:
    """This service's extension to a type-3 profile: a certificate credential and the
    recorded expiry of the client secret (Entra ID shows it; nothing else can know it)."""

    certificate: CertificateCredential | None = None
    client_secret_expires: date | None = None


@dataclass(frozen=True)
class StoredCredentials:
    credentials: OAuthCredentials
    version: int
    updated_at: datetime | None = None
    updated_by: str | None = None


@dataclass(frozen=True)
class CertificateUpload:
    """What a client sent to make a certificate credential; `None`: not sent."""

    certificate_pem: str | None = None
    private_key_pem: Secret | None = field(default=None, repr=False)
    pkcs12: bytes | None = field(default=None, repr=False)
    password: Secret | None = field(default=None, repr=False)
    algorithm: str | None = None

    @property
    def empty(self) -> bool:
        return (self.certificate_pem is None and self.private_key_pem is None
                and self.pkcs12 is None)


def parse_certificate(upload: CertificateUpload, binding: CredentialBinding,
                      now: datetime, trust: TrustBinding = DEFAULT_TRUST,
                      ) -> CertificateCredential:
    """A credential from PEM (certificate chain and key) or PKCS#12 (with its password).

    Raises ValidationFailed naming the field: unreadable input, a key that does not match
    the certificate, a key type or size that cannot sign RS256/PS256/ES256, an algorithm
    the key cannot use, or a certificate already expired.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    password = upload.password.reveal().encode() if upload.password else None
    if upload.pkcs12 is not None:
        if upload.certificate_pem is not None or upload.private_key_pem is not None:
            raise ValidationFailed(["Send either Pkcs12 or Certificate and PrivateKey, "
                                    "not both"])
        try:
            key, cert, extra = pkcs12.load_key_and_certificates(upload.pkcs12, password)
        except (ValueError, TypeError):
            raise ValidationFailed(["Pkcs12 cannot be opened: it is not PKCS#12, or "
                                    "Pkcs12Password is wrong"]) from None
        if key is None or cert is None:
            raise ValidationFailed(["Pkcs12 must hold a certificate and its private key"])
        chain = [cert, *extra]
    else:
        if not upload.certificate_pem or upload.private_key_pem is None:
            raise ValidationFailed(["Certificate and PrivateKey (PEM) are required, or "
                                    "Pkcs12 with Pkcs12Password"])
        if len(upload.certificate_pem) > MAX_PEM_CHARACTERS:
            raise ValidationFailed([f"Certificate must be at most {MAX_PEM_CHARACTERS} "
                                    "characters"])
        try:
            chain = x509.load_pem_x509_certificates(upload.certificate_pem.encode())
        except ValueError:
            raise ValidationFailed(["Certificate is not a PEM certificate"]) from None
        try:
            loaded = serialization.load_pem_private_key(
                upload.private_key_pem.reveal().encode(), password)
        except (ValueError, TypeError):
            raise ValidationFailed(["PrivateKey is not a PEM private key, or it is "
                                    "encrypted and Pkcs12Password is wrong"]) from None
        key = loaded
    if len(chain) > MAX_CHAIN_CERTIFICATES:
        raise ValidationFailed([f"Certificate must hold at most {MAX_CHAIN_CERTIFICATES} "
                                "certificates"])
    leaf = chain[0]
    algorithm = _algorithm_for(key, upload.algorithm)
    if (leaf.public_key().public_bytes(serialization.Encoding.DER,
                                       serialization.PublicFormat.SubjectPublicKeyInfo)
            != key.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)):
        raise ValidationFailed(["PrivateKey does not belong to the certificate (the first "
                                "certificate must be the one the key signs for)"])
    if leaf.not_valid_after_utc <= now:
        raise ValidationFailed([f"Certificate expired on {leaf.not_valid_after_utc:%Y-%m-%d}; "
                                "the identity provider would refuse every assertion"])
    key_pem = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    chain_pem = "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in chain)
    return CertificateCredential(chain_pem, Secret(key_pem), algorithm, binding, trust)


def check_certificate_trust(credential: CertificateCredential, current: TrustBinding) -> None:
    """Refuse to sign with a key whose relay checks changed since it was saved (the token
    would go to a relay verified less strictly): SECRET_REENTRY_REQUIRED, before any
    connection or token request."""
    changed = credential.trust.changed_settings(current)
    if changed:
        names = ", ".join(changed)
        raise DomainError(
            ErrorKind.SECRET_REENTRY_REQUIRED,
            f"The OAuth certificate credential must be saved again (PUT "
            f"/SMTP/OAuth/Credential with the certificate and key) because the relay "
            f"options' {names} changed since it was saved: a token bought with the stored "
            "key only goes to a relay verified as it was when the key was saved.")


def describe(credential: CertificateCredential) -> dict[str, str]:
    """What may be shown about a credential: never the key."""
    cert = credential.certificate
    return {
        "Subject": cert.subject.rfc4514_string(),
        "Issuer": cert.issuer.rfc4514_string(),
        "SerialNumber": format(cert.serial_number, "X"),
        "NotBefore": cert.not_valid_before_utc.isoformat().replace("+00:00", "Z"),
        "NotAfter": cert.not_valid_after_utc.isoformat().replace("+00:00", "Z"),
        "Sha256Fingerprint": credential.sha256_fingerprint,
        "Thumbprint": credential.thumbprint,
        "X5tS256": credential.x5t_s256,
        "Algorithm": credential.algorithm,
        "KeyType": _key_type(cert),
    }


def oauth_credential_warnings(credentials: OAuthCredentials, *, auth_type: int,
                              certificate_in_use: bool, client_secret_in_use: bool,
                              now: datetime) -> list[StatusWarning]:
    """Expiry warnings 30, 14 and 3 days ahead (and once expired) for the OAuth
    certificate credential and the recorded client-secret expiry of a type-3 profile.

    For the Status `Warnings` list: codes `oauth-certificate-expiring` and
    `client-secret-expiring`; critical within 3 days or past the date.
    """
    warnings: list[StatusWarning] = []
    if auth_type != 3:
        return warnings
    cert = credentials.certificate
    if cert is not None and certificate_in_use:
        warning = _expiry_warning(
            "oauth-certificate-expiring", "The OAuth certificate credential "
            f"(thumbprint {cert.thumbprint})", cert.not_after, now,
            "upload a new certificate to the app registration and to PUT "
            "/SMTP/OAuth/Credential before then")
        if warning is not None:
            warnings.append(warning)
    expires = credentials.client_secret_expires
    if expires is not None and client_secret_in_use:
        warning = _expiry_warning(
            "client-secret-expiring", "The OAuth client secret",
            datetime(expires.year, expires.month, expires.day, tzinfo=UTC), now,
            "create a new client secret at the identity provider and PUT /SMTP with it "
            "(or switch to a certificate credential) before then")
        if warning is not None:
            warnings.append(warning)
    return warnings


def _expiry_warning(code: str, what: str, at: datetime, now: datetime,
                    advice: str) -> StatusWarning | None:
    left = at - now
    day = at.date()
    if left <= timedelta(0):
        return StatusWarning(code, Severity.CRITICAL,
                             f"{what} expired on {day:%Y-%m-%d}: tokens can no longer be "
                             f"obtained; {advice.split(' before then')[0]}.", day)
    for days in sorted(WARNING_DAYS):
        if left <= timedelta(days=days):
            severity = Severity.CRITICAL if days <= 3 else Severity.WARNING
            return StatusWarning(code, severity,
                                 f"{what} expires on {day:%Y-%m-%d} (within {days} days): "
                                 f"{advice}.", day)
    return None


def _algorithm_for(key: object, wanted: str | None) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            raise ValidationFailed([f"PrivateKey: an RSA key must have at least "
                                    f"{MIN_RSA_BITS} bits (got {key.key_size})"])
        allowed: tuple[str, ...] = RSA_ALGORITHMS
        default = DEFAULT_RSA_ALGORITHM
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise ValidationFailed(["PrivateKey: an EC key must be on P-256 (ES256)"])
        allowed, default = EC_ALGORITHMS, "ES256"
    else:
        raise ValidationFailed(["PrivateKey must be an RSA (PS256, RS256) or P-256 EC "
                                "(ES256) key"])
    if wanted is None:
        return default
    if wanted not in allowed:
        raise ValidationFailed([f"Algorithm must be one of {', '.join(allowed)} for this "
                                f"key (got {wanted!r})"])
    return wanted


def _key_type(cert: x509.Certificate) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA {key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC {key.curve.name}"
    return type(key).__name__


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")

