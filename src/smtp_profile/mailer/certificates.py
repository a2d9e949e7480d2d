"""What a relay's certificate says, read from its DER bytes with `cryptography`.

Used for the report in every case, including when verification failed: an administrator
needs to see the names and dates of the certificate that was refused, not just "refused".
"""

from __future__ import annotations

import hashlib
import ipaddress
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from smtp_profile.domain.host_patterns import Wildcard, host_matches

if TYPE_CHECKING:  # `cryptography` is imported where used, not at start (architecture.md)
    from cryptography import x509


def fingerprint_sha256(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


def _alt_names(cert: x509.Certificate) -> list[str]:
    from cryptography import x509

    try:
        extension = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    names: list[str] = [str(n) for n in extension.value.get_values_for_type(x509.DNSName)]
    names += [str(ip) for ip in extension.value.get_values_for_type(x509.IPAddress)]
    return names


def name_matches(pattern: str, host: str) -> bool:
    """RFC 6125 matching: exact, or a wildcard in the whole left-most label only."""
    pattern, host = pattern.lower().rstrip("."), host.lower().rstrip(".")
    try:
        return ipaddress.ip_address(pattern) == ipaddress.ip_address(host)
    except ValueError:
        pass
    return host_matches(pattern, host, wildcard=Wildcard.ONE_LABEL)


def describe(der: bytes, host: str, now: datetime | None = None) -> dict[str, object]:
    """Subject, issuer, names, validity and whether it is self-signed or for `host`.

    The bytes come from the relay and may be anything OpenSSL let through (it parses less
    strictly than `cryptography`, and checks nothing in the insecure and pinned modes): a
    certificate that cannot be read is described by its fingerprint and why.
    """
    from cryptography import x509

    try:
        return _describe(der, host, now or datetime.now(UTC))
    except (ValueError, TypeError, x509.DuplicateExtension,
            x509.UnsupportedGeneralNameType) as exc:
        reason = " ".join(str(exc).split())[:160] or type(exc).__name__
        return {"sha256": fingerprint_sha256(der), "unreadable": True,
                "parse_error": f"the certificate cannot be read: {reason}"}


def _describe(der: bytes, host: str, now: datetime) -> dict[str, object]:
    from cryptography import x509

    cert = x509.load_der_x509_certificate(der)
    names = _alt_names(cert)
    not_after = cert.not_valid_after_utc
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "subject_alt_names": names,
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": not_after.isoformat(),
        "days_left": (not_after - now).days,
        "expired": not_after < now,
        "self_signed": cert.issuer == cert.subject,
        "host_matches": any(name_matches(n, host) for n in names),
        "sha256": fingerprint_sha256(der),
    }
