"""A token endpoint that accepts certificate credentials (RFC 7523 `private_key_jwt`),
answering as Entra ID documents it.

Honest stand-in for login.microsoftonline.com, which cannot be reached from here: the
"app registration" holds uploaded certificates; a client assertion is looked up by its
`x5t#S256` (or `x5t`) header, its signature verified with PyJWT against that
certificate's public key, and its claims checked (iss = sub = client_id, aud = this
endpoint's URL, exp in the future and at most 10 minutes after nbf, a jti never seen
before). Refusals carry Entra's `error` and `AADSTS` codes:

- unknown certificate / bad signature: invalid_client, AADSTS700027
- expired or not yet valid: invalid_client, AADSTS700024
- wrong audience or malformed assertion: invalid_client, AADSTS7000274 / AADSTS50012
- a replayed jti: invalid_client, AADSTS7000274
"""

from __future__ import annotations

import base64
import hashlib
import json
import ssl
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.support.oauth import Issuer, TokenCall, TokenEndpoint, _error

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def x5t_s256(cert_pem: str) -> str:
    der = x509.load_pem_x509_certificate(cert_pem.encode()).public_bytes(
        serialization.Encoding.DER)
    return b64url(hashlib.sha256(der).digest())


@dataclass
class AppRegistration(Issuer):
    """Issuer plus the certificates uploaded to the application (by x5t#S256)."""

    client_secret: str = "no-secret-uploaded"
    certificates: dict[str, x509.Certificate] = field(default_factory=dict)
    seen_jti: set[str] = field(default_factory=set)
    accepted_assertions: list[dict[str, Any]] = field(default_factory=list)

    def upload(self, cert_pem: str) -> str:
        cert = x509.load_pem_x509_certificate(cert_pem.encode())
        thumb = x5t_s256(cert_pem)
        self.certificates[thumb] = cert
        return thumb


class AssertionTokenEndpoint(TokenEndpoint):
    """TokenEndpoint that verifies client assertions; secrets still work as before."""

    issuer: AppRegistration

    def __init__(self, issuer: AppRegistration, tls: ssl.SSLContext | None = None,
                 *, leeway: int = 0) -> None:
        super().__init__(issuer, tls)
        self.leeway = leeway

    def answer(self, call: TokenCall) -> tuple[int, bytes, dict[str, str]]:
        if call.field("client_assertion_type") is None:
            return super().answer(call)
        issuer = self.issuer
        if call.field("client_assertion_type") != ASSERTION_TYPE:
            return _error(400, "invalid_request", "AADSTS7000274: unknown assertion type")
        if call.field("client_secret") is not None:
            return _error(400, "invalid_request", "use one client authentication method")
        if call.field("grant_type") != "client_credentials":
            return _error(400, "unsupported_grant_type", "only client_credentials")
        refusal = self._check(call.field("client_assertion") or "", call.field("client_id"))
        if refusal is not None:
            return _error(401, "invalid_client", refusal)
        if call.field("scope") != issuer.scope:
            return _error(400, "invalid_scope", f"scope {call.field('scope')!r} is not valid")
        body = json.dumps({"access_token": issuer.next_token(), "token_type": "Bearer",
                           "expires_in": issuer.expires_in})
        return 200, body.encode(), {"Content-Type": "application/json"}

    def _check(self, assertion: str, client_id: str | None) -> str | None:
        issuer = self.issuer
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.InvalidTokenError:
            return "AADSTS50012: Client assertion is not a JWT."
        thumb = header.get("x5t#S256")
        cert = issuer.certificates.get(thumb) if isinstance(thumb, str) else None
        if cert is None:
            return ("AADSTS700027: Client assertion contains an invalid signature. [Reason - "
                    f"The key was not found., Thumbprint of key used by client: '{thumb}']")
        from cryptography.hazmat.primitives.asymmetric import rsa

        rsa_key = isinstance(cert.public_key(), rsa.RSAPublicKey)
        if header.get("alg") not in (("RS256", "PS256") if rsa_key else ("ES256",)):
            return "AADSTS700027: Client assertion failed signature validation (alg)."
        try:
            claims = jwt.decode(
                assertion, cert.public_key(),  # type: ignore[arg-type]
                algorithms=["RS256", "PS256"] if rsa_key else ["ES256"], audience=self.url,
                issuer=issuer.client_id, leeway=self.leeway,
                options={"require": ["exp", "nbf", "iat", "jti", "sub", "aud", "iss"]})
        except jwt.ExpiredSignatureError:
            return ("AADSTS700024: Client assertion is not within its valid time range. "
                    "Current time: now, assertion valid to: earlier.")
        except jwt.ImmatureSignatureError:
            return "AADSTS700024: Client assertion is not within its valid time range."
        except jwt.InvalidAudienceError:
            return ("AADSTS7000274: The audience claim of the client assertion does not match "
                    "the token endpoint.")
        except jwt.InvalidSignatureError:
            return "AADSTS700027: Client assertion failed signature validation."
        except jwt.InvalidTokenError as exc:
            return f"AADSTS50012: Client assertion is invalid ({type(exc).__name__})."
        if claims["sub"] != issuer.client_id or client_id not in (None, issuer.client_id):
            return "AADSTS50012: The client assertion's subject does not match the client."
        if claims["exp"] - claims["nbf"] > 600:
            return "AADSTS700024: Client assertion lives longer than 10 minutes."
        if claims["jti"] in issuer.seen_jti:
            return "AADSTS7000274: The client assertion was already used (jti replayed)."
        issuer.seen_jti.add(claims["jti"])
        issuer.accepted_assertions.append({"header": header, "claims": claims})
        return None


@dataclass(frozen=True)
class ClientCertificate:
    """A self-signed client certificate and its key, as an operator would make one for an
    app registration (`cryptography`, on the fly)."""

    cert_pem: str
    key_pem: str
    key: Any

    def pkcs12(self, password: str) -> bytes:
        from cryptography.hazmat.primitives.serialization import pkcs12

        return pkcs12.serialize_key_and_certificates(
            b"smtp-profile", self.key, x509.load_pem_x509_certificate(self.cert_pem.encode()),
            None, serialization.BestAvailableEncryption(password.encode()))


def make_certificate(*, kind: str = "rsa", days: float = 365, bits: int = 2048,
                     name: str = "smtp-profile-oauth") -> ClientCertificate:
    import datetime as dt

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import NameOID

    key: Any = (rsa.generate_private_key(public_exponent=65537, key_size=bits)
                if kind == "rsa" else ec.generate_private_key(ec.SECP256R1()))
    now = dt.datetime.now(dt.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=days))
            .sign(key, hashes.SHA256()))
    return ClientCertificate(
        cert.public_bytes(serialization.Encoding.PEM).decode(),
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                          serialization.NoEncryption()).decode(), key)
