"""Per-profile relay options beyond Keyfactor's shape: trust and the AUTH mechanism.

Trust can be widened for one relay (its own CA bundle, or a pinned certificate for a
self-signed relay) but never silently switched off: `insecure` is an explicit setting
that every report and status shows.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from enum import StrEnum

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


@dataclass(frozen=True)
class TrustBinding:
    """The certificate checks a stored secret was entered under, kept beside it.

    A stored password or client secret is sent only while the relay options still verify
    the relay as they did when the secret was entered: otherwise someone allowed to change
    the options, but who does not know the secret, could switch verification off (or pin
    their own certificate) and have a Test hand the secret to an impostor. The CA bundle
    is kept as its SHA-256, which is enough to tell a change.
    """

    insecure: bool = False
    pinned_sha256: str | None = None
    ca_sha256: str | None = None

    @classmethod
    def of(cls, options: RelayOptions) -> TrustBinding:
        ca = hashlib.sha256(options.ca_pem.encode("utf-8")).hexdigest() if options.ca_pem \
            else None
        return cls(insecure=options.insecure, pinned_sha256=options.pinned_sha256,
                   ca_sha256=ca)

    @property
    def mode(self) -> TrustMode:
        return RelayOptions(ca_pem=self.ca_sha256, pinned_sha256=self.pinned_sha256,
                            insecure=self.insecure).trust_mode

    def changed_settings(self, current: TrustBinding) -> list[str]:
        """The option names (as PUT /SMTP/Options spells them) that differ from `current`."""
        return [name for name, before, after in (
            ("Insecure", self.insecure, current.insecure),
            ("PinnedSha256", self.pinned_sha256, current.pinned_sha256),
            ("CaBundle", self.ca_sha256, current.ca_sha256),
        ) if before != after]

    def to_json(self) -> dict[str, object]:
        return {"Insecure": self.insecure, "PinnedSha256": self.pinned_sha256,
                "CaBundle": self.ca_sha256}

    @classmethod
    def from_json(cls, value: object) -> TrustBinding | None:
        """The stored form back; None (no binding) for anything else."""
        if not isinstance(value, dict):
            return None
        pin, ca = value.get("PinnedSha256"), value.get("CaBundle")
        return cls(insecure=value.get("Insecure") is True,
                   pinned_sha256=pin if isinstance(pin, str) else None,
                   ca_sha256=ca if isinstance(ca, str) else None)


DEFAULT_TRUST = TrustBinding()


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
    from cryptography import x509  # where used, not at start (architecture.md)

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
