"""The stages of an SMTP test and the report they add up to.

The steps mirror the protocol: a failure is always pinned to the stage where it happened,
which is what an administrator needs to tell a wrong port from a wrong password.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum

from smtp_profile.domain.warnings import StatusWarning


def new_test_id() -> str:
    """A test's id: in its report, its audit record and its last-test row."""
    return str(uuid.uuid4())


class StepName(StrEnum):
    SECRET = "secret"  # noqa: S105 - fetching credentials from a PAM provider, first
    RESOLVE = "resolve"
    CONNECT = "connect"
    BANNER = "banner"
    EHLO = "ehlo"
    STARTTLS = "starttls"
    TLS = "tls"
    CERTIFICATE = "certificate"
    AUTH = "auth"
    TOKEN = "token"  # noqa: S105 - the OAuth token step, not a password
    MAIL_FROM = "mail_from"
    RCPT_TO = "rcpt_to"
    DATA = "data"
    QUIT = "quit"


class StepStatus(StrEnum):
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"


class TestMode(StrEnum):
    """`send` delivers the message; `verify` stops after RCPT TO and delivers nothing."""

    SEND = "send"
    VERIFY = "verify"


# What a human reads for each step in a one-line failure message.
STEP_LABELS = {
    StepName.SECRET: "secret",
    StepName.RESOLVE: "resolve",
    StepName.CONNECT: "connect",
    StepName.BANNER: "banner",
    StepName.EHLO: "EHLO",
    StepName.STARTTLS: "STARTTLS",
    StepName.TLS: "TLS",
    StepName.CERTIFICATE: "certificate",
    StepName.AUTH: "AUTH",
    StepName.TOKEN: "token",
    StepName.MAIL_FROM: "MAIL FROM",
    StepName.RCPT_TO: "RCPT TO",
    StepName.DATA: "DATA",
    StepName.QUIT: "QUIT",
}


def plan_steps(*, implicit_tls: bool, starttls: bool, auth: bool, token: bool,
               mode: TestMode) -> list[StepName]:
    """The steps a test will go through, in protocol order."""
    steps = [StepName.RESOLVE, StepName.CONNECT]
    if implicit_tls:
        steps += [StepName.TLS, StepName.CERTIFICATE, StepName.BANNER, StepName.EHLO]
    else:
        steps += [StepName.BANNER, StepName.EHLO]
        if starttls:
            steps += [StepName.STARTTLS, StepName.CERTIFICATE]
    if token:
        steps.append(StepName.TOKEN)
    if auth:
        steps.append(StepName.AUTH)
    steps += [StepName.MAIL_FROM, StepName.RCPT_TO]
    if mode is TestMode.SEND:
        steps.append(StepName.DATA)
    steps.append(StepName.QUIT)
    return steps


@dataclass
class StepResult:
    """One step's outcome; `message` and `hint` are set for a failure."""

    name: StepName
    status: StepStatus = StepStatus.SKIPPED
    duration_ms: float = 0.0
    reply_code: int | None = None
    reply_text: str | None = None
    message: str | None = None
    hint: str | None = None
    details: dict[str, object] = field(default_factory=dict)
    internal: bool = False
    """The step failed through a fault of the service (an unexpected exception), not
    because of anything the relay or the settings did."""


@dataclass
class TestReport:
    """Everything one test learned, in order; never holds a credential."""

    test_id: str
    mode: TestMode
    steps: list[StepResult]
    transcript: list[str] = field(default_factory=list)
    warnings: list[StatusWarning] = field(default_factory=list)
    """What the settings will run into besides this test's steps (a provider's deadline,
    what a verify run cannot prove); never a failure."""

    @property
    def failed_step(self) -> StepResult | None:
        return next((s for s in self.steps if s.status is StepStatus.FAILED), None)

    @property
    def success(self) -> bool:
        """True when every step up to the last one that matters went well.

        A failed QUIT after the relay accepted the message does not undo the delivery.
        """
        failed = self.failed_step
        return failed is None or failed.name is StepName.QUIT

    @property
    def internal_error(self) -> bool:
        """True when the test failed through the service's own fault: such a report says
        nothing about the relay, so it must never stand as the settings' last test."""
        return any(step.internal for step in self.steps)

    def step(self, name: StepName) -> StepResult | None:
        return next((s for s in self.steps if s.name is name), None)

    def failure_summary(self) -> str:
        """One paragraph for the Keyfactor error body: step, reply and hint."""
        failed = self.failed_step
        if failed is None:
            return f"Test {self.test_id} succeeded."
        text = f"Test {self.test_id} failed at step '{STEP_LABELS[failed.name]}': {failed.message}."
        if failed.reply_code is not None:
            reply = " ".join(f"{failed.reply_code} {failed.reply_text or ''}".split())
            text += f" Server replied: {reply}."
        if failed.hint:
            text += f" Hint: {failed.hint}"
        return text
