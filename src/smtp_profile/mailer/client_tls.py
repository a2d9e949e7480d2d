"""The relay client certificate in the TLS handshake: loading it, and seeing what happened.

Loading: `ssl` reads a certificate chain and key only from files. The key is written to
an anonymous in-memory file (`memfd_create`, Linux) that is loaded and closed at once: it
never touches a disk. Where that is missing, presenting a client certificate is refused
with a clear failure rather than writing the key to a temporary file.

Seeing: Python's `ssl` has no public way to ask whether the server sent a
CertificateRequest. CPython's context has a message callback (`_msg_callback`, the hook
behind OpenSSL's SSL_CTX_set_msg_callback, private but present since 3.8) that sees each
handshake message and alert; `HandshakeWatch` uses it when it exists and otherwise says
"cannot tell". Shared contexts are watched per SSL object (weakly); a context built for
one test (with a client certificate) also keeps its last observation, so a handshake
that failed can still be described.
"""

from __future__ import annotations

import os
import ssl
import weakref
from dataclasses import dataclass, field
from typing import Any

from smtp_profile.domain.client_certificate import ClientCertificate

# TLS record content types and handshake message types (RFC 8446 section 5.1, 4).
_ALERT, _HANDSHAKE = 21, 22
_CERTIFICATE_REQUEST, _CERTIFICATE_VERIFY = 13, 15

# TLS alert descriptions (RFC 8446 section 6) that say how a client certificate was judged.
ALERTS = {
    42: "bad_certificate", 43: "unsupported_certificate", 44: "certificate_revoked",
    45: "certificate_expired", 46: "certificate_unknown", 48: "unknown_ca",
    49: "access_denied", 116: "certificate_required",
}


@dataclass
class Observation:
    """What one handshake showed about client certificates."""

    supported: bool = True
    """False: this Python cannot see handshake messages, so `requested` is unknown."""
    requested: bool = False
    sent_certificate: bool = False
    """A non-empty Certificate was sent (CertificateVerify followed it)."""
    alerts: list[int] = field(default_factory=list)
    """Fatal alerts received from the server."""

    def alert_names(self) -> list[str]:
        return [ALERTS.get(code, f"alert {code}") for code in self.alerts]

    def to_details(self) -> dict[str, object]:
        details: dict[str, object] = {
            "requested_by_relay": self.requested if self.supported else None}
        if self.alerts:
            details["alerts_received"] = self.alert_names()
        return details


class HandshakeWatch:
    """Observations of handshakes on the contexts it is installed on."""

    def __init__(self) -> None:
        self._seen: weakref.WeakKeyDictionary[Any, Observation] = weakref.WeakKeyDictionary()
        self.latest: Observation | None = None

    def install(self, context: ssl.SSLContext) -> bool:
        if not hasattr(context, "_msg_callback"):
            return False
        context._msg_callback = self._callback  # see the module doc
        return True

    def observed(self, ssl_object: object | None) -> Observation:
        if ssl_object is not None:
            found = self._seen.get(ssl_object)
            if found is not None:
                return found
        return Observation(supported=False)

    def _callback(self, conn: Any, direction: str, _version: Any, content_type: Any,
                  msg_type: Any, data: bytes) -> None:
        try:
            observation = self._seen.get(conn)
            if observation is None:
                observation = self._seen[conn] = Observation()
                self.latest = observation
        except TypeError:  # not weak-referenceable: keep only the latest
            observation = self.latest = self.latest or Observation()
        if content_type == _HANDSHAKE:
            if direction == "read" and msg_type == _CERTIFICATE_REQUEST:
                observation.requested = True
            elif direction == "write" and \
                    msg_type == _CERTIFICATE_VERIFY:
                observation.sent_certificate = True
        elif content_type == _ALERT and direction == "read" \
                and len(data) >= 2 and data[0] == 2:
            observation.alerts.append(data[1])


def load_client_certificate(context: ssl.SSLContext, certificate: ClientCertificate) -> None:
    """Load chain and key into `context` through an in-memory file; OSError if impossible."""
    memfd_create = getattr(os, "memfd_create", None)
    if memfd_create is None:
        raise OSError("this platform has no memfd_create: the client certificate's key "
                      "would have to be written to disk, which this service refuses")
    fd = memfd_create("smtp-profile-client-certificate", getattr(os, "MFD_CLOEXEC", 0))
    try:
        data = (certificate.chain_pem + "\n" + certificate.key.reveal()).encode("ascii")
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        context.load_cert_chain(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)
