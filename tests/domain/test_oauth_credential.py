"""Certificate credentials for type 3: parsing, binding, PUT without ClientSecret, expiry
warnings. Certificates are made by `cryptography` on the fly."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from smtp_profile.domain.errors import DomainError, ErrorKind, ValidationFailed
from smtp_profile.domain.oauth_credential import (
    CertificateUpload,
    CredentialBinding,
    OAuthCredentials,
    oauth_credential_warnings,
    parse_certificate,
)
from smtp_profile.domain.profile import Profile, ProfileDraft, build_profile
from smtp_profile.domain.secrets import Secret
from smtp_profile.domain.warnings import Severity
from tests.support.assertion_endpoint import ClientCertificate, make_certificate

ENDPOINT = "https://login.example.com/tenant/oauth2/v2.0/token"
BINDING = CredentialBinding(ENDPOINT, "client-1", "smtp.example.com", 587, True)
NOW = datetime.now(UTC)
DRAFT = ProfileDraft(host="smtp.example.com", port=587, auth_type=3, use_ssl=True,
                     sender_account="svc@corp.local", sender_name="KF",
                     client_id="client-1", token_endpoint=ENDPOINT)


@pytest.fixture(scope="module")
def rsa() -> ClientCertificate:
    return make_certificate()


def pem(cert: ClientCertificate, **changes: object) -> CertificateUpload:
    upload = CertificateUpload(certificate_pem=cert.cert_pem,
                               private_key_pem=Secret(cert.key_pem))
    return replace(upload, **changes)  # type: ignore[arg-type]


def problems(upload: CertificateUpload) -> list[str]:
    with pytest.raises(ValidationFailed) as caught:
        parse_certificate(upload, BINDING, NOW)
    return caught.value.problems


def test_pem_and_pkcs12_give_the_same_credential(rsa: ClientCertificate) -> None:
    from_pem = parse_certificate(pem(rsa), BINDING, NOW)
    from_p12 = parse_certificate(CertificateUpload(pkcs12=rsa.pkcs12("p12-pass"),
                                                   password=Secret("p12-pass")), BINDING, NOW)
    assert from_pem == from_p12
    assert from_pem.algorithm == "PS256"  # what Entra ID's documentation asks for
    assert len(from_pem.x5t_s256) == 43 and len(from_pem.x5t) == 27
    assert "PRIVATE KEY" not in repr(from_pem)
    assert parse_certificate(pem(rsa, algorithm="RS256"), BINDING, NOW).algorithm == "RS256"


def test_an_ec_key_signs_es256() -> None:
    ec = make_certificate(kind="ec")
    assert parse_certificate(pem(ec), BINDING, NOW).algorithm == "ES256"
    assert problems(pem(ec, algorithm="PS256")) == [
        "Algorithm must be one of ES256 for this key (got 'PS256')"]


def test_unusable_uploads_are_refused_by_field(rsa: ClientCertificate) -> None:
    other = make_certificate(kind="ec")
    assert problems(CertificateUpload(pkcs12=rsa.pkcs12("right"),
                                      password=Secret("wrong"))) == [
        "Pkcs12 cannot be opened: it is not PKCS#12, or Pkcs12Password is wrong"]
    assert problems(pem(rsa, private_key_pem=Secret(other.key_pem))) == [
        "PrivateKey does not belong to the certificate (the first certificate must be the "
        "one the key signs for)"]
    assert problems(pem(rsa, certificate_pem="not a certificate")) == [
        "Certificate is not a PEM certificate"]
    assert problems(pem(rsa, private_key_pem=None)) == [
        "Certificate and PrivateKey (PEM) are required, or Pkcs12 with Pkcs12Password"]
    small = make_certificate(bits=1024)
    assert problems(pem(small)) == [
        "PrivateKey: an RSA key must have at least 2048 bits (got 1024)"]
    expired = make_certificate(days=-0.5, kind="ec")
    [message] = problems(pem(expired))
    assert message.startswith("Certificate expired on ")


def test_the_binding_names_what_changed() -> None:
    assert BINDING.changed_fields(ENDPOINT, "client-1", "SMTP.example.com", 587, True) == []
    assert BINDING.changed_fields("https://LOGIN.example.com:443/tenant/oauth2/v2.0/token",
                                  "client-1", "smtp.example.com", 587, True) == []
    assert BINDING.changed_fields("https://evil.example/token", "client-2",
                                  "smtp.example.com", 25, True) == [
        "TokenEndpoint", "ClientId", "Port"]


def test_a_bound_certificate_replaces_the_client_secret(rsa: ClientCertificate) -> None:
    credential = parse_certificate(pem(rsa), BINDING, NOW)
    profile = build_profile(DRAFT, Profile(), certificate=credential)
    assert profile.client_secret is None
    # Bound elsewhere: the client secret is required as before.
    for change in ({"client_id": "client-2"}, {"host": "other.example.com"},
                   {"token_endpoint": "https://login.example.com/other/token"}):
        with pytest.raises(ValidationFailed, match="ClientSecret is required"):
            build_profile(replace(DRAFT, **change), Profile(),  # type: ignore[arg-type]
                          certificate=credential)
    with pytest.raises(ValidationFailed, match="ClientSecret is required"):
        build_profile(DRAFT, Profile())


def test_a_stored_secret_is_still_refused_to_another_endpoint(rsa: ClientCertificate) -> None:
    """The certificate does not relax the client secret's own binding."""
    stored = build_profile(replace(DRAFT, client_secret=Secret("cs")), Profile())
    moved = replace(DRAFT, token_endpoint="https://login.example.com/other/token")
    with pytest.raises(DomainError) as caught:
        build_profile(moved, stored, certificate=parse_certificate(pem(rsa), BINDING, NOW))
    assert caught.value.kind is ErrorKind.SECRET_REENTRY_REQUIRED


@pytest.mark.parametrize(("days_left", "severity", "within"), [
    (31, None, None), (30, Severity.WARNING, 30), (15, Severity.WARNING, 30),
    (14, Severity.WARNING, 14), (4, Severity.WARNING, 14), (3, Severity.CRITICAL, 3),
    (0.5, Severity.CRITICAL, 3), (-1, Severity.CRITICAL, 0),
])
def test_the_client_secret_expiry_warns_30_14_and_3_days_ahead(
        days_left: float, severity: Severity | None, within: int | None) -> None:
    expires = (NOW + timedelta(days=days_left)).date()
    moment = datetime(expires.year, expires.month, expires.day, tzinfo=UTC) - timedelta(
        days=days_left)
    warnings = oauth_credential_warnings(
        OAuthCredentials(client_secret_expires=expires), auth_type=3,
        certificate_in_use=False, client_secret_in_use=True, now=moment)
    if severity is None:
        assert warnings == []
        return
    [warning] = warnings
    assert (warning.code, warning.severity, warning.date) == (
        "client-secret-expiring", severity, expires)
    assert (f"within {within} days" in warning.message if within
            else "expired on" in warning.message)


def test_the_certificate_warns_only_when_in_use() -> None:
    soon = make_certificate(days=10, kind="ec")
    credential = parse_certificate(pem(soon), BINDING, NOW)
    credentials = OAuthCredentials(credential, date(2000, 1, 1))
    [warning] = oauth_credential_warnings(credentials, auth_type=3, certificate_in_use=True,
                                          client_secret_in_use=False, now=NOW)
    assert warning.code == "oauth-certificate-expiring"
    assert credential.thumbprint in warning.message and "within 14 days" in warning.message
    assert oauth_credential_warnings(credentials, auth_type=2, certificate_in_use=True,
                                     client_secret_in_use=True, now=NOW) == []
    assert oauth_credential_warnings(credentials, auth_type=3, certificate_in_use=False,
                                     client_secret_in_use=False, now=NOW) == []


def test_the_status_hook_warns_about_the_credential_the_profile_uses(
        rsa: ClientCertificate) -> None:
    """usecases.oauth_credentials.credential_warnings: the producer the Status warnings
    call; the certificate's expiry counts while it signs, else the secret's."""
    from smtp_profile.usecases.oauth_credentials import credential_warnings

    soon = parse_certificate(pem(make_certificate(days=5, kind="ec")), BINDING, NOW)
    expiring_secret = (NOW + timedelta(days=10)).date()
    credentials = OAuthCredentials(soon, expiring_secret)
    with_secret = build_profile(replace(DRAFT, client_secret=Secret("cs")), Profile())
    codes = [w.code for w in credential_warnings(with_secret, credentials, NOW)]
    assert codes == ["oauth-certificate-expiring"]
    moved = replace(with_secret, port=25)  # the certificate is not bound: the secret signs
    codes = [w.code for w in credential_warnings(moved, credentials, NOW)]
    assert codes == ["client-secret-expiring"]
