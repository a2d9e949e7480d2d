"""Every way a test can fail, then a good test on the same running instance, several rounds.

A failed test must leave nothing behind: no socket, no transport still registered with
the event loop. Before the connection had one owner, a test that failed after TLS (an
untrusted certificate, the most common first experience) left a TLS transport registered
under a descriptor number that the next socket reused, and every later test failed at
`connect` with "unexpected error ... (RuntimeError)".
"""

from __future__ import annotations

import asyncio
import datetime
import gc
import os
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.api.test_smtp_faults import smtp_script
from tests.api.test_test_email import relay_body
from tests.support.resolver import StaticResolver
from tests.support.service import RunningService, service_settings, start_service
from tests.support.smtp import (
    Behaviour,
    LoopThread,
    ScriptedServer,
    SmtpServer,
    closed_port,
    silent,
)

ROUNDS = 3


@dataclass
class Failure:
    """A relay that makes a test fail at `step` (None: a test that must still succeed)."""

    port: int
    step: str | None
    body: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    implicit: bool = False
    keep: list[socket.socket] = field(default_factory=list)


def untrusted_context() -> ssl.SSLContext:
    """A server context whose certificate comes from a CA the service does not trust."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trustme.CA().issue_cert("mail.test", "127.0.0.1").configure_cert(context)
    return context


def unreadable_certificate_context(tmp_path: Path) -> ssl.SSLContext:
    """A certificate OpenSSL loads and sends but `cryptography` cannot read: its country
    name holds '@', which a PrintableString may not."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "QZ"),
                      x509.NameAttribute(NameOID.COMMON_NAME, "mail.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(7).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=2)).sign(key, hashes.SHA256()))
    der = cert.public_bytes(serialization.Encoding.DER).replace(b"QZ", b"Q@")
    with pytest.raises(ValueError, match="PrintableString"):
        x509.load_der_x509_certificate(der)
    pem = ssl.DER_cert_to_PEM_cert(der).encode() + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    path = tmp_path / "unreadable.pem"
    path.write_bytes(pem)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(path))
    return context


def handshake_garbage() -> Callable[[asyncio.StreamReader, asyncio.StreamWriter],
                                    Awaitable[None]]:
    async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 2.0.0 go ahead\r\nthis is not TLS at all\r\n")
        await writer.drain()
        await reader.read(64)
    return reply


STARTTLS_EHLO = "250-mx.test\r\n250-STARTTLS\r\n250 SIZE 100000"
KINDS = [
    "refused", "connect_timeout", "silent", "starttls_refused", "starttls_handshake",
    "starttls_untrusted",
    "implicit_untrusted", "implicit_against_plain", "plain_against_implicit",
    "implicit_unreadable_certificate", "auth_refused", "banner_421", "mail_451",
    "rcpt_550", "data_554",
]


def make_failure(kind: str, *, loop_thread: LoopThread, server_context: ssl.SSLContext,
                 scripted: Callable[..., ScriptedServer], tmp_path: Path) -> Failure:
    def aiosmtpd(mode: str, context: ssl.SSLContext, **kwargs: Any) -> SmtpServer:
        return SmtpServer(loop_thread, mode=mode, server_context=context, **kwargs)

    if kind == "refused":
        return Failure(closed_port(), "connect")
    if kind == "connect_timeout":
        # A listener whose accept queue is full drops new SYNs: the connect hangs, on
        # loopback, until the service's connect timeout.
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        filler = socket.create_connection(listener.getsockname())
        return Failure(listener.getsockname()[1], "connect", keep=[listener, filler])
    if kind == "silent":
        return Failure(scripted(silent).port, "banner")
    if kind == "starttls_refused":
        script = smtp_script({"EHLO": STARTTLS_EHLO, "STARTTLS": "454 4.7.0 TLS not available"})
        return Failure(scripted(script).port, "starttls", {"UseSSL": True})
    if kind == "starttls_handshake":
        script = smtp_script({"EHLO": STARTTLS_EHLO, "STARTTLS": handshake_garbage()})
        return Failure(scripted(script).port, "starttls", {"UseSSL": True})
    if kind == "starttls_untrusted":
        relay = aiosmtpd("starttls", untrusted_context())
        return Failure(relay.port, "certificate", {"UseSSL": True, "Host": "mail.test"})
    if kind == "implicit_untrusted":
        relay = aiosmtpd("implicit", untrusted_context())
        return Failure(relay.port, "certificate", {"UseSSL": True, "Host": "mail.test"},
                       implicit=True)
    if kind == "implicit_against_plain":
        relay = aiosmtpd("plain", server_context)
        return Failure(relay.port, "tls", {"UseSSL": True, "Host": "mail.test"}, implicit=True)
    if kind == "plain_against_implicit":
        relay = aiosmtpd("implicit", server_context)
        return Failure(relay.port, "banner", {"Host": "mail.test"})
    if kind == "implicit_unreadable_certificate":
        relay = aiosmtpd("implicit", unreadable_certificate_context(tmp_path))
        return Failure(relay.port, None, {"UseSSL": True, "Host": "mail.test"},
                       {"Insecure": True}, implicit=True)
    if kind == "auth_refused":
        relay = aiosmtpd("starttls", server_context, behaviour=Behaviour(users={"svc": "right"}))
        return Failure(relay.port, "auth", {
            "UseSSL": True, "Host": "mail.test", "RelayAuthenticationType": 2,
            "RelayUsername": "svc", "RelayPassword": "wrong-password"})
    if kind == "banner_421":
        return Failure(scripted(smtp_script({}, banner="421 4.3.2 busy")).port, "banner")
    reply = {"mail_451": ("MAIL", "451 4.3.0 try later", "mail_from"),
             "rcpt_550": ("RCPT", "550 5.1.1 no such user", "rcpt_to"),
             "data_554": (".", "554 5.6.0 rejected", "data")}[kind]
    return Failure(scripted(smtp_script({reply[0]: reply[1]})).port, reply[2])


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def live_transports() -> int:
    """Transports of this process (service and test servers) that are not closing."""
    gc.collect()
    return sum(1 for obj in gc.get_objects()
               if isinstance(obj, asyncio.BaseTransport) and not obj.is_closing())


def settle(baseline_fds: int, baseline_transports: int) -> tuple[int, int]:
    """Counts once the other ends have seen the close (bounded wait, not a timing claim)."""
    deadline = time.monotonic() + 15
    while True:
        fds, transports = open_descriptors(), live_transports()
        if (fds <= baseline_fds and transports <= baseline_transports) or \
                time.monotonic() > deadline:
            return fds, transports
        time.sleep(0.1)


@pytest.mark.parametrize("kind", KINDS)
def test_a_failed_test_leaves_nothing_behind(
        kind: str, tmp_path: Path, ca_bundle: Path, resolver: StaticResolver,
        loop_thread: LoopThread, server_context: ssl.SSLContext,
        scripted_server: Callable[..., ScriptedServer],
        smtp_server: Callable[..., SmtpServer]) -> None:
    failure = make_failure(kind, loop_thread=loop_thread, server_context=server_context,
                           scripted=scripted_server, tmp_path=tmp_path)
    good = smtp_server()
    implicit = frozenset({465, failure.port} if failure.implicit else {465})
    running: RunningService = start_service(
        service_settings(tmp_path / "data", ca_bundle, connect_timeout=1.0,
                         implicit_tls_ports=implicit), resolver)
    try:
        with running.client() as client:
            def one_round() -> None:
                if failure.options:
                    client.put("/KeyfactorAPI/SMTP/Options",
                               json=failure.options).raise_for_status()
                response = client.post("/KeyfactorAPI/SMTP/Diagnose",
                                       json=relay_body(failure.port, **failure.body))
                assert response.status_code == 200, response.text
                steps = response.json()["Steps"]
                failed = [s for s in steps if s["Status"] == "failed"]
                if failure.step is None:
                    assert failed == [], steps
                else:
                    assert [s["Name"] for s in failed] == [failure.step], steps
                    assert "internal error" not in failed[0]["Message"], failed
                if failure.options:
                    client.put("/KeyfactorAPI/SMTP/Options", json={}).raise_for_status()
                after = client.post("/KeyfactorAPI/SMTP/Test", json=relay_body(good.port))
                assert after.status_code == 200, (kind, after.text)

            one_round()  # warms up what is built once (pools, contexts)
            fds, transports = open_descriptors(), live_transports()
            for _ in range(ROUNDS):
                one_round()
            fds_after, transports_after = settle(fds, transports)
            assert fds_after <= fds, f"{fds_after - fds} descriptors left open"
            assert transports_after <= transports, (
                f"{transports_after - transports} transports left registered")
        assert len(good.received) == ROUNDS + 1
    finally:
        running.stop()
        for sock in failure.keep:
            sock.close()


def test_an_internal_fault_is_never_saved_as_the_last_test(
        service: RunningService, smtp_server: Callable[..., SmtpServer],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from smtp_profile.mailer import conversation

    relay = smtp_server()
    stored = {k: v for k, v in relay_body(relay.port).items() if k != "TestRecipient"}

    async def broken(self: object) -> None:
        raise RuntimeError("a bug in this service")

    with service.client() as client:
        client.put("/KeyfactorAPI/SMTP", json=stored).raise_for_status()
        monkeypatch.setattr(conversation._Conversation, "_ehlo", broken)
        response = client.post("/KeyfactorAPI/SMTP/Diagnose",
                                json={"TestRecipient": "x@corp.local"})
        assert response.status_code == 200, response.text
        [failed] = [s for s in response.json()["Steps"] if s["Status"] == "failed"]
        assert failed["Name"] == "ehlo"
        assert "internal error of this service" in failed["Message"]
        assert client.get("/KeyfactorAPI/SMTP/Status").json()["LastTest"] is None
        monkeypatch.undo()
        good = client.post("/KeyfactorAPI/SMTP/Diagnose",
                           json={"TestRecipient": "x@corp.local"}).json()
        last = client.get("/KeyfactorAPI/SMTP/Status").json()["LastTest"]
        assert last["TestId"] == good["TestId"] and last["Success"] is True


def test_untrusted_relay_ca_then_add_it_then_test_again_passes_at_once(
        service: RunningService, loop_thread: LoopThread) -> None:
    """The first experience of many: the relay's own CA is not trusted yet."""
    relay_ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    relay_ca.issue_cert("mail.test").configure_cert(context)
    relay = SmtpServer(loop_thread, mode="starttls", server_context=context,
                       behaviour=Behaviour(users={"svc": "Relay-Pa55"}))
    body = relay_body(relay.port, Host="mail.test", UseSSL=True, RelayAuthenticationType=2,
                      RelayUsername="svc", RelayPassword="Relay-Pa55")
    try:
        with service.client() as client:
            for _ in range(2):
                refused = client.post("/KeyfactorAPI/SMTP/Test", json=body)
                assert refused.status_code == 400, refused.text
                assert "failed at step 'certificate'" in refused.json()["Message"]
            client.put("/KeyfactorAPI/SMTP/Options", json={
                "CaBundle": relay_ca.cert_pem.bytes().decode()}).raise_for_status()
            passed = client.post("/KeyfactorAPI/SMTP/Test", json=body)
            assert passed.status_code == 200, passed.text
        assert [r.login for r in relay.received] == ["svc"]
    finally:
        relay.close()
