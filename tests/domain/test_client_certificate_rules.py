"""The client certificate's pure rules: what input is accepted, what it is bound to, and
when Status warns about an expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from smtp_profile.domain.client_certificate import (
    ClientCertificateInput,
    Destination,
    StoredClientCertificate,
    build_client_certificate,
)
from smtp_profile.domain.errors import ValidationFailed
from smtp_profile.domain.profile import Profile
from smtp_profile.domain.relay_options import RelayOptions, TrustBinding
from smtp_profile.domain.secrets import Secret
from smtp_profile.domain.status import LastTest
from smtp_profile.domain.steps import TestMode as Mode
from smtp_profile.domain.warnings import Severity
from smtp_profile.usecases.status_warnings import WarningInputs, collect, expiry_severity
from tests.support.client_certs import ClientIdentity

HERE = Destination("mail.test", 587, True)
TRUST = TrustBinding()
IDENTITY = ClientIdentity()


def pem(identity: ClientIdentity = IDENTITY, **overrides: object) -> ClientCertificateInput:
    values: dict[str, object] = {"certificate_pem": identity.certificate_pem,
                                 "private_key_pem": Secret(identity.key_pem())}
    values.update(overrides)
    return ClientCertificateInput(**values)  # type: ignore[arg-type]


def problems(given: ClientCertificateInput, destination: Destination | None = HERE) -> str:
    with pytest.raises(ValidationFailed) as caught:
        build_client_certificate(given, destination, TRUST)
    return "; ".join(caught.value.problems)


def test_pem_and_pkcs12_give_the_same_certificate_and_a_plain_pkcs8_key() -> None:
    from_pem = build_client_certificate(pem(), HERE, TRUST)
    encrypted = build_client_certificate(
        pem(private_key_pem=Secret(IDENTITY.key_pem("k-pass")),
            private_key_password=Secret("k-pass")), HERE, TRUST)
    from_p12 = build_client_certificate(ClientCertificateInput(
        pkcs12_base64=Secret(IDENTITY.pkcs12_base64("p-pass")),
        pkcs12_password=Secret("p-pass")), HERE, TRUST)
    assert from_pem.facts == encrypted.facts == from_p12.facts
    assert from_pem.facts.sha256 == IDENTITY.sha256 and from_pem.facts.client_auth
    for certificate in (from_pem, encrypted, from_p12):
        assert certificate.key.reveal().startswith("-----BEGIN PRIVATE KEY-----")
        assert "p-pass" not in repr(certificate) and "PRIVATE" not in repr(certificate)


def test_refusals_name_the_field_and_never_the_secret() -> None:
    other = ClientIdentity()
    assert "does not belong" in problems(pem(private_key_pem=Secret(other.key_pem())))
    assert "PrivateKeyPassword is missing or wrong" in problems(
        pem(private_key_pem=Secret(IDENTITY.key_pem("k-pass"))))
    assert "Pkcs12 cannot be opened" in problems(ClientCertificateInput(
        pkcs12_base64=Secret(IDENTITY.pkcs12_base64("p-pass")),
        pkcs12_password=Secret("wrong-p-pass")))
    assert "base64" in problems(ClientCertificateInput(pkcs12_base64=Secret("%%%")))
    assert "either" in problems(pem(pkcs12_base64=Secret("AAAA")))
    assert "CertificatePem must hold PEM" in problems(pem(certificate_pem="hello"))
    assert "Host first" in problems(pem(), None)
    wrong = problems(pem(private_key_pem=Secret("-----BEGIN PRIVATE KEY-----\nSECRETSTUFF")))
    assert "SECRETSTUFF" not in wrong


def test_the_key_is_presented_only_where_and_as_it_was_saved() -> None:
    certificate = build_client_certificate(pem(), HERE, TRUST)
    assert certificate.unusable_reasons(Destination.of("MAIL.test", 587, True), TRUST) == []
    for moved in (Destination("other.test", 587, True), Destination("mail.test", 25, True),
                  Destination("mail.test", 587, False), None):
        reasons = certificate.unusable_reasons(moved, TRUST)
        assert reasons and "saved for mail.test:587" in reasons[0]
    insecure = TrustBinding.of(RelayOptions(insecure=True))
    assert certificate.unusable_reasons(HERE, insecure) == [
        "the relay options' Insecure changed since it was saved"]


NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("days", "severity"), [
    (31, None), (30, Severity.INFO), (15, Severity.INFO), (14, Severity.WARNING),
    (4, Severity.WARNING), (3, Severity.CRITICAL), (0.5, Severity.CRITICAL),
    (-1, Severity.CRITICAL)])
def test_expiry_warns_at_30_14_and_3_days(days: float, severity: Severity | None) -> None:
    assert expiry_severity(NOW + timedelta(days=days), NOW) == severity


def test_status_warns_about_the_client_and_the_relay_certificate() -> None:
    certificate = build_client_certificate(pem(ClientIdentity(days=5)), HERE, TRUST)
    now = datetime.now(UTC)
    last = LastTest("t", now - timedelta(days=1), "admin", Mode.SEND, True, None, None,
                    1, now + timedelta(days=20))
    warnings = collect(WarningInputs(Profile(), RelayOptions(), last,
                                     StoredClientCertificate(certificate, 1),
                                     ("it was saved for x",), now))
    assert [(w.code, w.severity) for w in warnings] == [
        ("client-certificate-expiring", Severity.WARNING),
        ("client-certificate-unbound", Severity.WARNING),
        ("relay-certificate-expiring", Severity.INFO)]
    assert "expires in 4 days" in warnings[0].message
    assert warnings[0].date == certificate.facts.not_after.date()
    assert "expires in 20 days" in warnings[2].message
    assert collect(WarningInputs(Profile(), RelayOptions(), None, None, (), now)) == ()
