"""TLS policy for the relay connection: always verify, system trust plus an optional bundle.

There is deliberately no switch to turn verification off here.
"""

from __future__ import annotations

import ssl
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def client_context(ca_bundle: Path | None = None) -> ssl.SSLContext:
    """A verifying client context; build once, it loads the trust store from disk."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if ca_bundle is not None:
        context.load_verify_locations(cafile=str(ca_bundle))
    return context


def _name(rdns: Any) -> str:
    parts = []
    for rdn in rdns or ():
        for key, value in rdn:
            parts.append(f"{key}={value}")
    return ", ".join(parts)


def describe_peer(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> dict[str, object]:
    """Protocol, cipher and the verified certificate's names and dates, for the report."""
    if ssl_object is None:
        return {}
    details: dict[str, object] = {"protocol": ssl_object.version()}
    cipher = ssl_object.cipher()
    if cipher:
        details["cipher"] = cipher[0]
    cert = ssl_object.getpeercert()
    if cert:
        details["subject"] = _name(cert.get("subject"))
        details["issuer"] = _name(cert.get("issuer"))
        details["subject_alt_names"] = [
            str(entry[1]) for entry in cert.get("subjectAltName", ()) if len(entry) == 2
        ]
        not_after = cert.get("notAfter")
        not_before = cert.get("notBefore")
        if isinstance(not_before, str):
            details["not_before"] = _iso(not_before)
        if isinstance(not_after, str):
            expires = datetime.fromtimestamp(ssl.cert_time_to_seconds(not_after), UTC)
            details["not_after"] = expires.isoformat()
            details["days_left"] = (expires - datetime.now(UTC)).days
        details["trusted"] = True
        details["host_matches"] = True
    return details


def _iso(text: str) -> str:
    return datetime.fromtimestamp(ssl.cert_time_to_seconds(text), UTC).isoformat()
