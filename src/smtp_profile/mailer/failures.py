"""A failure type per stage of a test conversation, each carrying its step and its hint.

In the spirit of aiosmtplib's `errors.py`, whose exceptions mirror the protocol's stages
(connect, HELO, AUTH, sender, recipient, DATA), the types here mirror the test's steps
(`domain/steps.py`): a failure knows where it happened, so whoever raises it decides the
step, and nothing has to remember which step "is running" to record it.

There is one way through: a failure is raised (from anywhere in the conversation: inside
a step, between steps, in the XOAUTH2 login), leaves the conversation, and
`Recorder.fail` turns it into its step's result. A failure that follows from another
step's failure is raised `from` it, and both are recorded (the cause first).
"""

from __future__ import annotations

from typing import ClassVar

from smtp_profile.domain.steps import StepName


class StepFailure(Exception):
    """A step's failure, already explained: what happened, and what to do about it.

    Only the per-stage subclasses are raised; `failure_at` finds one for a step chosen
    at run time (a refusal reply, a timeout, an internal fault).
    """

    step: ClassVar[StepName]

    def __init__(self, message: str, *, hint: str | None = None,
                 reply_code: int | None = None, reply_text: str | None = None,
                 details: dict[str, object] | None = None, internal: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.reply_code = reply_code
        self.reply_text = reply_text
        self.details: dict[str, object] = dict(details or {})
        self.internal = internal
        """An unexpected exception: the service's fault (see StepResult.internal)."""

    def __str__(self) -> str:
        return self.message


class SecretFailed(StepFailure):
    """A credential could not be fetched from its PAM provider (recorded by the use
    case, which fetches before the conversation starts)."""

    step = StepName.SECRET


class ResolveFailed(StepFailure):
    """The relay's name gave no address to connect to."""

    step = StepName.RESOLVE


class ConnectFailed(StepFailure):
    """No address of the relay accepted a TCP connection."""

    step = StepName.CONNECT


class TlsFailed(StepFailure):
    """The TLS handshake from the first byte (implicit TLS) failed."""

    step = StepName.TLS


class CertificateFailed(StepFailure):
    """The relay's certificate was refused (by verification or by a pin)."""

    step = StepName.CERTIFICATE


class BannerFailed(StepFailure):
    """No usable greeting: silence, a refusal, a hang-up, or not SMTP at all."""

    step = StepName.BANNER


class EhloFailed(StepFailure):
    step = StepName.EHLO


class StarttlsFailed(StepFailure):
    """STARTTLS was not offered or refused, or its handshake failed."""

    step = StepName.STARTTLS


class TokenFailed(StepFailure):
    """No OAuth access token from the token endpoint."""

    step = StepName.TOKEN


class AuthFailed(StepFailure):
    step = StepName.AUTH


class MailFromFailed(StepFailure):
    step = StepName.MAIL_FROM


class RcptToFailed(StepFailure):
    step = StepName.RCPT_TO


class DataFailed(StepFailure):
    step = StepName.DATA


class QuitFailed(StepFailure):
    step = StepName.QUIT


_BY_STEP: dict[StepName, type[StepFailure]] = {
    failure.step: failure for failure in (
        SecretFailed, ResolveFailed, ConnectFailed, TlsFailed, CertificateFailed, BannerFailed,
        EhloFailed, StarttlsFailed, TokenFailed, AuthFailed, MailFromFailed,
        RcptToFailed, DataFailed, QuitFailed,
    )
}


def failure_at(step: StepName) -> type[StepFailure]:
    """The failure type of `step`, for explanations that fit any step."""
    return _BY_STEP[step]
