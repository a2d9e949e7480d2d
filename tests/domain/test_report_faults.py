"""The report tells a fault of the service from a failure of the relay, and the wire tells
a Trust that agrees with the options from one that contradicts them: pure functions."""

from __future__ import annotations

import pytest

from smtp_profile.domain.errors import DomainError, ValidationFailed
from smtp_profile.domain.relay_options import RelayOptions
from smtp_profile.domain.steps import StepName, StepResult, StepStatus
from smtp_profile.domain.steps import TestMode as Mode
from smtp_profile.domain.steps import TestReport as Report
from smtp_profile.wire.report import options_etag, options_version, refuse_contradicting_trust


def report(*steps: StepResult) -> Report:
    return Report("t1", Mode.SEND, list(steps))


def test_only_a_step_flagged_internal_makes_an_internal_error() -> None:
    relay_failure = StepResult(StepName.AUTH, StepStatus.FAILED, message="535 refused")
    fault = StepResult(StepName.EHLO, StepStatus.FAILED, message="unexpected error",
                       internal=True)
    assert not report(StepResult(StepName.CONNECT, StepStatus.OK)).internal_error
    assert not report(relay_failure).internal_error
    assert report(StepResult(StepName.CONNECT, StepStatus.OK), fault).internal_error


@pytest.mark.parametrize(("options", "trust"), [
    (RelayOptions(), "system"), (RelayOptions(pinned_sha256="ab" * 32), "PINNED"),
    (RelayOptions(insecure=True, pinned_sha256="ab" * 32), "insecure"),
])
def test_a_trust_that_agrees_is_accepted(options: RelayOptions, trust: str) -> None:
    refuse_contradicting_trust(options, trust)
    refuse_contradicting_trust(options, None)


@pytest.mark.parametrize(("trust", "wording"), [
    ("system", "contradicts"), ("bundle", "contradicts"), ("paranoid", "must be one of")])
def test_a_trust_that_contradicts_is_refused(trust: str, wording: str) -> None:
    with pytest.raises(ValidationFailed, match=wording):
        refuse_contradicting_trust(RelayOptions(pinned_sha256="ab" * 32), trust)


def test_options_etags_round_trip_and_refuse_anything_else() -> None:
    assert options_version(options_etag(7)) == 7
    assert options_version(None) is None and options_version(" * ") is None
    assert options_version('W/"options-3", "options-4"') == 3
    for header in ('"7"', "options-7", '"options-"', '"options-' + "1" * 5000 + '"', ""):
        with pytest.raises(DomainError):
            options_version(header)
