"""Per-profile relay options beyond Keyfactor's shape: trust and the AUTH mechanism.

Trust can be widened for one relay (its own CA bundle, or a pinned certificate for a
self-signed relay) but never silently switched off: `insecure` is an explicit setting
that every report and status shows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from cryptography import x509

from smtp_profile.domain.errors import ValidationFailed

MAX_CA_BUNDLE_LENGTH = 48 * 1024
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class Mechanism(StrEnum):
    """Which SASL mechanism AUTH uses for Basic: the best offered, or one forced."""

    AUTO = "auto"
    PLAIN = "PLAIN"
    LOGIN = "LOGIN"


class TrustMode(StrEnum):
    SYSTEM = "system"
    BUNDLE = "bundle"
    PINNED = "pinned"
    INSECURE = "insecure"


@dataclass(frozen=True)
class RelayOptions:
    ca_pem: str | None = None
    pinned_sha256: str | None = None
    insecure: bool = False
    mechanism: Mechanism = Mechanism.AUTO

    @property
    def trust_mode(self) -> TrustMode:
        if self.insecure:
            return TrustMode.INSECURE
        if self.pinned_sha256:
            return TrustMode.PINNED
        if self.ca_pem:
            return TrustMode.BUNDLE
        return TrustMode.SYSTEM


def parse_mechanism(text: str | None, field: str = "Mechanism") -> Mechanism:
    if text is None or text == "":
        return Mechanism.AUTO
    for mechanism in Mechanism:
        if text.lower() == mechanism.value.lower():
            return mechanism
    raise ValidationFailed([f"{field} must be auto, PLAIN or LOGIN (got {text[:20]!r})"])


def normalize_fingerprint(text: str) -> str:
    """A SHA-256 fingerprint as 64 lower-case hex digits; colons and spaces are dropped."""
    value = re.sub(r"[\s:]", "", text).lower()
    if not _HEX64.match(value):
        raise ValueError("must be a SHA-256 fingerprint: 64 hex digits, colons allowed")
    return value


def build_options(*, ca_pem: str | None, pinned_sha256: str | None, insecure: bool | None,
                  mechanism: str | None) -> RelayOptions:
    problems: list[str] = []
    pem = ca_pem.strip() if ca_pem and ca_pem.strip() else None
    if pem is not None:
        if len(pem) > MAX_CA_BUNDLE_LENGTH:
            problems.append(f"CaBundle must be at most {MAX_CA_BUNDLE_LENGTH} characters")
        else:
            try:
                certificates = x509.load_pem_x509_certificates(pem.encode("ascii"))
            except (ValueError, UnicodeEncodeError):
                certificates = []
            if not certificates:
                problems.append("CaBundle must contain PEM certificates "
                                "(-----BEGIN CERTIFICATE----- ...)")
    pin: str | None = None
    if pinned_sha256:
        try:
            pin = normalize_fingerprint(pinned_sha256)
        except ValueError as exc:
            problems.append(f"PinnedSha256 {exc}")
    try:
        chosen = parse_mechanism(mechanism)
    except ValidationFailed as exc:
        problems.extend(exc.problems)
        chosen = Mechanism.AUTO
    if problems:
        raise ValidationFailed(problems)
    return RelayOptions(ca_pem=pem, pinned_sha256=pin, insecure=bool(insecure),
                        mechanism=chosen)
