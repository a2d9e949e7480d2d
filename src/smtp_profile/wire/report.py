"""Reports, status and relay options <-> their JSON shapes (PascalCase, like Keyfactor)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from smtp_profile.domain.cleartext import CleartextCredentials
from smtp_profile.domain.errors import DomainError, ErrorKind, ValidationFailed
from smtp_profile.domain.profile import (
    IMPLICIT_TLS_PORTS,
    Profile,
    ProfileDraft,
    secret_trust_changes,
)
from smtp_profile.domain.relay_options import (
    Mechanism,
    RelayOptions,
    TrustBinding,
    TrustMode,
    build_options,
    parse_mechanism,
)
from smtp_profile.domain.status import LastTest
from smtp_profile.domain.steps import StepResult, TestMode, TestReport
from smtp_profile.domain.warnings import StatusWarning
from smtp_profile.wire import v1, v2
from smtp_profile.wire.binding import bind
from smtp_profile.wire.models import (
    DiagnoseV1In,
    DiagnoseV2In,
    LastTestOut,
    OptionsIn,
    OptionsOut,
    ReportOut,
    StatusOut,
    StepOut,
    TlsPolicyOut,
    WarningOut,
)

_NOT_PROFILE_FIELDS = {"mode", "mechanism", "test_recipient"}


@dataclass(frozen=True)
class DiagnoseRequest:
    draft: ProfileDraft | None
    """None: diagnose the stored profile."""
    recipient: str | None
    mode: TestMode
    mechanism: Mechanism | None


def parse_mode(text: str | None) -> TestMode:
    if text is None or text == "":
        return TestMode.SEND
    for mode in TestMode:
        if text.lower() == mode.value:
            return mode
    raise ValidationFailed([f"Mode must be send or verify (got {text[:20]!r})"])


def decode_diagnose(data: dict[str, Any], version: int) -> DiagnoseRequest:
    """A Test body of either version plus Mode/Mechanism; only those: the stored profile."""
    body: DiagnoseV1In | DiagnoseV2In = (bind(DiagnoseV1In, data) if version == 1
                                         else bind(DiagnoseV2In, data))
    mode = parse_mode(body.mode)
    mechanism = parse_mechanism(body.mechanism) if body.mechanism else None
    if not body.model_fields_set - _NOT_PROFILE_FIELDS:
        return DiagnoseRequest(None, body.test_recipient, mode, mechanism)
    profile_data = {k: v for k, v in data.items() if k.lower() not in ("mode", "mechanism")}
    draft, recipient = (v1.decode_test(profile_data) if version == 1
                        else v2.decode_test(profile_data))
    return DiagnoseRequest(draft, recipient, mode, mechanism)


def encode_step(step: StepResult) -> dict[str, Any]:
    return StepOut(
        Name=step.name.value, Status=step.status.value, DurationMs=step.duration_ms,
        ReplyCode=step.reply_code, ReplyText=step.reply_text, Message=step.message,
        Hint=step.hint, Details=step.details,
    ).model_dump(by_alias=True)


def encode_report(report: TestReport) -> dict[str, Any]:
    return ReportOut(
        Success=report.success, TestId=report.test_id, Mode=report.mode.value,
        Steps=[StepOut.model_validate(encode_step(s)) for s in report.steps],
        Transcript=report.transcript,
        Warnings=[encode_warning(w) for w in report.warnings],
    ).model_dump(by_alias=True)


def encode_warning(warning: StatusWarning) -> WarningOut:
    return WarningOut(Code=warning.code, Severity=warning.severity.value,
                      Message=warning.message,
                      Date=warning.date.isoformat() if warning.date else None,
                      Link=warning.link)


def decode_options(data: dict[str, Any]) -> RelayOptions:
    """A PUT /SMTP/Options body; `Trust`, as GET returns it, must agree with the rest."""
    body = bind(OptionsIn, data)
    options = build_options(ca_pem=body.ca_bundle, pinned_sha256=body.pinned_sha256,
                            insecure=body.insecure, mechanism=body.mechanism)
    refuse_contradicting_trust(options, body.trust)
    return options


def refuse_contradicting_trust(options: RelayOptions, trust: str | None) -> None:
    """`Trust` is derived, never set: accepted when it names what the fields make it."""
    if trust is None or trust == "":
        return
    known = [mode.value for mode in TrustMode]
    if trust.lower() not in known:
        raise ValidationFailed([f"Trust must be one of {', '.join(known)} (got "
                                f"{trust[:20]!r}); it is derived from CaBundle, "
                                "PinnedSha256 and Insecure"])
    derived = options.trust_mode.value
    if trust.lower() != derived:
        raise ValidationFailed([f"Trust {trust.lower()!r} contradicts the other fields, which "
                                f"make it {derived!r}: Trust only reports what CaBundle, "
                                "PinnedSha256 and Insecure set; change those, or leave "
                                "Trust out"])


_OPTIONS_TAG = re.compile(r'(?:W/)?"options-([0-9]{1,9})"')


def options_etag(version: int) -> str:
    """The relay options' ETag; distinct from the profile's, so neither passes for the
    other."""
    return f'"options-{version}"'


def options_version(if_match: str | None) -> int | None:
    """The options version an `If-Match` insists on; None when absent or `*`."""
    if if_match is None or if_match.strip() == "*":
        return None
    match = _OPTIONS_TAG.fullmatch(if_match.split(",")[0].strip())
    if match is None:
        raise DomainError(ErrorKind.PRECONDITION_FAILED,
                          f"If-Match {if_match[:40]!r} is not an ETag of the relay options; "
                          "use the ETag header of a GET /SMTP/Options.")
    return int(match.group(1))


def encode_options(options: RelayOptions) -> dict[str, Any]:
    return OptionsOut(
        CaBundle=options.ca_pem, PinnedSha256=options.pinned_sha256,
        Insecure=options.insecure, Mechanism=options.mechanism.value,
        Trust=options.trust_mode.value,
    ).model_dump(by_alias=True)


def encode_warnings(warnings: Sequence[StatusWarning]) -> list[WarningOut]:
    return [WarningOut(Code=w.code, Severity=w.severity.value, Message=w.message,
                       Date=w.date.isoformat() if w.date else None, Link=w.link)
            for w in warnings]


def encode_status(profile: Profile, version: int, updated_at: datetime | None,
                  updated_by: str | None, options: RelayOptions,
                  last: LastTest | None,
                  warnings: Sequence[StatusWarning] = (), *,
                  implicit_tls_ports: frozenset[int] = IMPLICIT_TLS_PORTS,
                  cleartext: CleartextCredentials = CleartextCredentials.LOOPBACK,
                  ) -> dict[str, Any]:
    return StatusOut(
        ProfileVersion=version,
        UpdatedAt=updated_at.isoformat() if updated_at else None,
        UpdatedBy=updated_by,
        PasswordStored=profile.password is not None,
        ClientSecretStored=profile.client_secret is not None,
        Trust=options.trust_mode.value,
        SecretTrustChanged=secret_trust_changes(profile, TrustBinding.of(options)),
        LastTest=None if last is None else LastTestOut(
            TestId=last.test_id, TestedAt=last.tested_at.isoformat(),
            TestedBy=last.tested_by, Mode=last.mode.value, Success=last.success,
            FailedStep=last.failed_step.value if last.failed_step else None,
            Message=last.message, ProfileVersion=last.profile_version,
            Current=last.profile_version == version,
            CertificateNotAfter=last.certificate_not_after.isoformat()
            if last.certificate_not_after else None,
        ),
        TlsPolicy=TlsPolicyOut(ImplicitTlsPorts=sorted(implicit_tls_ports),
                               CleartextCredentials=cleartext.value),
        Warnings=encode_warnings(warnings),
    ).model_dump(by_alias=True)
