"""The client certificate reaches OpenSSL through memory only, and the handshake watch
sees whether a server asked for one."""

from __future__ import annotations

import os
import ssl

import pytest

from smtp_profile.domain.client_certificate import (
    ClientCertificateInput,
    Destination,
    build_client_certificate,
)
from smtp_profile.domain.relay_options import TrustBinding
from smtp_profile.domain.secrets import Secret
from smtp_profile.mailer.client_tls import HandshakeWatch, load_client_certificate
from tests.support.client_certs import ClientIdentity

IDENTITY = ClientIdentity()
CERTIFICATE = build_client_certificate(
    ClientCertificateInput(certificate_pem=IDENTITY.certificate_pem,
                           private_key_pem=Secret(IDENTITY.key_pem())),
    Destination("mail.test", 587, True), TrustBinding())


def test_loaded_through_an_anonymous_memory_file_and_no_disk(
        monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    opened: list[str] = []
    real_open = os.open

    def spy_open(path: str, *args: object, **kwargs: object) -> int:
        opened.append(str(path))
        return real_open(path, *args, **kwargs)  # type: ignore[arg-type]

    real_memfd = os.memfd_create
    memfds: list[str] = []

    def spy_memfd(name: str, flags: int = 0) -> int:
        memfds.append(name)
        return real_memfd(name, flags)

    monkeypatch.setattr(os, "open", spy_open)
    monkeypatch.setattr(os, "memfd_create", spy_memfd)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    load_client_certificate(context, CERTIFICATE)
    # No file was created; OpenSSL read /proc/self/fd/N of an anonymous memory file.
    assert opened == [] and memfds == ["smtp-profile-client-certificate"]
    monkeypatch.delattr(os, "memfd_create")
    with pytest.raises(OSError, match="written to disk, which this service refuses"):
        load_client_certificate(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), CERTIFICATE)


def test_the_watch_installs_on_cpythons_contexts() -> None:
    watch = HandshakeWatch()
    assert watch.install(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
    unknown = watch.observed(None)
    assert unknown.supported is False
    assert unknown.to_details() == {"requested_by_relay": None}
