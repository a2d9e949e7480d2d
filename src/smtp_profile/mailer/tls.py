"""TLS trust for the relay connection: verify by default, widen per relay, never silently off.

The default is the system trust store plus the operator's optional CA bundle. A relay's own
options may add CA certificates, pin one certificate (for a self-signed relay: the chain
is then not checked, the SHA-256 fingerprint is), or, explicitly, skip verification.
Contexts load trust stores from disk, so they are built once and kept (`contexts`, one
of the memories listed in `usecases/memory.py`).
"""

from __future__ import annotations

import hashlib
import ssl
from pathlib import Path

from cachetools import FIFOCache

from smtp_profile.domain.client_certificate import ClientCertificate
from smtp_profile.domain.relay_options import RelayOptions, TrustMode
from smtp_profile.mailer.client_tls import HandshakeWatch, load_client_certificate
from smtp_profile.usecases.memory import Bounded

_CACHE_SIZE = 16


def client_context(ca_bundle: Path | None = None, ca_pem: str | None = None) -> ssl.SSLContext:
    """A verifying client context: system store, plus a bundle file and PEM text if given."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if ca_bundle is not None:
        context.load_verify_locations(cafile=str(ca_bundle))
    if ca_pem:
        context.load_verify_locations(cadata=ca_pem)
    return context


def unverified_context() -> ssl.SSLContext:
    """For a pinned relay (checked after the handshake) and for probes that only look."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class TrustStore:
    """The TLS context for a relay's options, and words for where trust comes from."""

    def __init__(self, ca_bundle: Path | None) -> None:
        self.ca_bundle = ca_bundle
        # Sees every handshake on the shared contexts (did the relay ask for a client
        # certificate?), per SSL object; see mailer/client_tls.py.
        self.watch = HandshakeWatch()
        self._default: ssl.SSLContext | None = None
        self._unverified_context: ssl.SSLContext | None = None
        # Per CA bundle text; never stale (a context depends only on that text).
        self.contexts: Bounded[str, ssl.SSLContext] = Bounded(FIFOCache(_CACHE_SIZE))

    def context_for(self, options: RelayOptions) -> ssl.SSLContext:
        mode = options.trust_mode
        if mode in (TrustMode.PINNED, TrustMode.INSECURE):
            return self.unverified
        if mode is TrustMode.BUNDLE and options.ca_pem:
            key = hashlib.sha256(options.ca_pem.encode()).hexdigest()
            context = self.contexts.get(key)
            if context is None:
                context = client_context(self.ca_bundle, options.ca_pem)
                self.watch.install(context)
                self.contexts.put(key, context)
            return context
        return self.default

    @property
    def default(self) -> ssl.SSLContext:
        """The system store plus the operator's bundle, built at the first test that
        needs it: loading the system store takes tens of milliseconds and about 2 MB,
        which a service that only answers GETs never spends."""
        if self._default is None:
            self._default = client_context(self.ca_bundle)
            self.watch.install(self._default)
        return self._default

    def with_client_certificate(self, options: RelayOptions, certificate: ClientCertificate,
                                ) -> tuple[ssl.SSLContext, HandshakeWatch]:
        """A context of this test's own that presents `certificate`, trusting as
        `context_for(options)` does, and the watch that sees its handshake (even a failed
        one). Built per test (a few tens of ms): the key must not outlive the test."""
        mode = options.trust_mode
        if mode in (TrustMode.PINNED, TrustMode.INSECURE):
            context = unverified_context()
        else:
            context = client_context(self.ca_bundle,
                                     options.ca_pem if mode is TrustMode.BUNDLE else None)
        load_client_certificate(context, certificate)
        watch = HandshakeWatch()
        watch.install(context)
        return context, watch

    @property
    def unverified(self) -> ssl.SSLContext:
        if self._unverified_context is None:
            self._unverified_context = unverified_context()
            self.watch.install(self._unverified_context)
        return self._unverified_context

    def source(self, options: RelayOptions) -> str:
        """Where to add a CA so that this relay's certificate is trusted (for hints)."""
        if options.trust_mode is TrustMode.BUNDLE:
            return "the relay's CA bundle (PUT /KeyfactorAPI/SMTP/Options)"
        if self.ca_bundle is not None:
            return f"SMTP_PROFILE_CA_BUNDLE ({self.ca_bundle}) or the relay's CA bundle"
        return "SMTP_PROFILE_CA_BUNDLE or the relay's CA bundle (PUT /KeyfactorAPI/SMTP/Options)"


def session_details(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> dict[str, object]:
    """Protocol version and cipher of an established TLS session."""
    if ssl_object is None:
        return {}
    details: dict[str, object] = {"protocol": ssl_object.version()}
    cipher = ssl_object.cipher()
    if cipher:
        details["cipher"] = cipher[0]
    return details


def peer_der(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> bytes | None:
    if ssl_object is None:
        return None
    return ssl_object.getpeercert(binary_form=True)
