"""Client certificates made on the fly, and a relay that relays only for a known one.

The relay is aiosmtpd with a STARTTLS (or implicit TLS) context that requests client
certificates and verifies them against its own client CA, as Postfix does with
`smtpd_tls_ask_ccert` and `smtpd_tls_CAfile`; its RCPT handler then relays only for a
certificate whose SHA-256 fingerprint it knows (Postfix: `permit_tls_clientcerts` with
`relay_clientcerts`), and answers 554 Relay access denied otherwise.
"""

from __future__ import annotations

import base64
import hashlib
import ssl
from datetime import UTC, datetime, timedelta
from typing import Any

import trustme
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.support.smtp import Behaviour, LoopThread, RecordingHandler, SmtpServer


class ClientIdentity:
    """A client certificate (issued by `issuer`) and its key, in the forms a user has."""

    def __init__(self, issuer: trustme.CA | None = None, *, name: str = "mailer.corp.local",
                 days: int = 365, client_auth: bool = True) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        usage = [ExtendedKeyUsageOID.CLIENT_AUTH if client_auth
                 else ExtendedKeyUsageOID.EMAIL_PROTECTION]
        self.ca = issuer or trustme.CA()
        ca_cert = x509.load_pem_x509_certificate(self.ca.cert_pem.bytes())
        ca_key = serialization.load_pem_private_key(self.ca.private_key_pem.bytes(), None)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(subject).issuer_name(ca_cert.subject)
            .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=days))
            .add_extension(x509.ExtendedKeyUsage(usage), critical=False)
            .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
        )

    @property
    def sha256(self) -> str:
        return self.cert.fingerprint(hashes.SHA256()).hex()

    @property
    def certificate_pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    def key_pem(self, password: str | None = None) -> str:
        encryption: serialization.KeySerializationEncryption = (
            serialization.NoEncryption() if password is None
            else serialization.BestAvailableEncryption(password.encode()))
        return self.key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      encryption).decode()

    def pkcs12_base64(self, password: str) -> str:
        data = pkcs12.serialize_key_and_certificates(
            b"client", self.key, self.cert, None,
            serialization.BestAvailableEncryption(password.encode()))
        return base64.b64encode(data).decode()

    def pem_body(self) -> dict[str, Any]:
        return {"CertificatePem": self.certificate_pem, "PrivateKeyPem": self.key_pem()}


def client_auth_context(relay_cert: trustme.LeafCert, client_ca: trustme.CA,
                        verify: ssl.VerifyMode = ssl.CERT_OPTIONAL) -> ssl.SSLContext:
    """A relay's TLS context that asks for client certificates from `client_ca`."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    relay_cert.configure_cert(context)
    client_ca.configure_trust(context)
    context.verify_mode = verify
    return context


class CertificateRelayHandler(RecordingHandler):
    """Relays only for a client certificate whose SHA-256 fingerprint is known."""

    def __init__(self, behaviour: Behaviour, known: set[str], *,
                 external_only: bool = False) -> None:
        super().__init__(behaviour)
        self.known = known
        self.external_only = external_only
        """Relay only after AUTH EXTERNAL succeeded (the certificate named the client)."""
        self.seen: list[str | None] = []
        self.external_commands: list[list[str]] = []

    @staticmethod
    def _fingerprint(server: SMTP) -> str | None:
        transport = server.transport
        ssl_object = transport.get_extra_info("ssl_object") if transport else None
        der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
        return hashlib.sha256(der).hexdigest() if der else None

    async def auth_EXTERNAL(self, server: SMTP, args: list[str]) -> AuthResult:
        """SASL EXTERNAL (RFC 4422): the identity is the TLS client certificate."""
        self.external_commands.append(args)
        fingerprint = self._fingerprint(server)
        if fingerprint in self.known and args[1:] == ["="]:
            return AuthResult(success=True, auth_data=fingerprint)
        return AuthResult(success=False, handled=False)

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        fingerprint = self._fingerprint(server)
        self.seen.append(fingerprint)
        if self.external_only and not session.authenticated:
            return f"554 5.7.1 <{address}>: Relay access denied (AUTH EXTERNAL first)"
        if fingerprint not in self.known:
            return f"554 5.7.1 <{address}>: Relay access denied"
        envelope.rcpt_tos.append(address)
        return "250 OK"


def certificate_relay(loop: LoopThread, context: ssl.SSLContext, known: set[str], *,
                      mode: str = "starttls", external_only: bool = False,
                      **kwargs: Any) -> SmtpServer:
    server = SmtpServer(loop, mode=mode, server_context=context, **kwargs)
    server.handler = CertificateRelayHandler(server.behaviour, known,
                                             external_only=external_only)
    return server
