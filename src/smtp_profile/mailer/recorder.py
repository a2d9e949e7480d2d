"""Records steps as a conversation runs: timing, outcome, and a redacted transcript.

Everything recorded (replies, transcript lines, messages, hints, details) passes through
the test's `Redactor`, which knows the secrets in play, so a relay or an identity
provider that echoes a credential cannot get it into a report, a status or the audit.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from aiosmtplib.errors import SMTPResponseException, SMTPServerDisconnected, SMTPTimeoutError

from smtp_profile.domain.redaction import Redactor, enhanced_status
from smtp_profile.domain.secrets import REDACTED, Secret
from smtp_profile.domain.steps import (
    STEP_LABELS,
    StepName,
    StepResult,
    StepStatus,
    TestMode,
    TestReport,
)
from smtp_profile.mailer import diagnosis
from smtp_profile.mailer.failures import StepFailure, failure_at

log = logging.getLogger(__name__)


class Recorder:
    def __init__(self, test_id: str, mode: TestMode, plan: list[StepName],
                 on_step: Callable[[StepResult], None] | None = None,
                 redactor: Redactor | None = None) -> None:
        self.test_id = test_id
        self.mode = mode
        self._results = {name: StepResult(name) for name in plan}
        self._on_step = on_step
        self._running: StepName | None = None
        self.transcript: list[str] = []
        self.redactor = redactor or Redactor()

    def add_secret(self, secret: Secret) -> None:
        """A secret obtained during the test (an access token): redacted from now on."""
        self.redactor = self.redactor.with_secret(secret)

    @property
    def running(self) -> StepName | None:
        """The step inside `step()` right now: the one a whole-test timeout interrupted."""
        return self._running

    @asynccontextmanager
    async def step(self, name: StepName) -> AsyncIterator[StepResult]:
        """Time one step and mark it ok; what leaves a failed step is a StepFailure.

        A StepFailure passes as it is; any other exception becomes the step's failure
        here (a protocol error explained for the step, anything else an internal error)
        and ends the test, to be recorded by `fail`. Cancellation (the whole-test
        timeout) passes through untouched; `running` still names the step it hit.
        """
        result = self._results[name]
        self._running = name
        started = time.perf_counter()
        try:
            yield result
        except StepFailure:
            self._finish(result, started)
            raise
        except Exception as exc:
            self._finish(result, started)
            raise self._explain(name, exc) from exc
        self._finish(result, started)
        result.status = StepStatus.OK
        self._running = None
        self._announce(result)

    def _explain(self, name: StepName, exc: Exception) -> StepFailure:
        """An exception no code of the step explained, told apart by its type."""
        if isinstance(exc, SMTPResponseException):
            self.server(exc.code, exc.message)
            return diagnosis.reply_failed(name, exc.code, exc.message)
        if isinstance(exc, SMTPTimeoutError):
            return diagnosis.read_timed_out(name)
        if isinstance(exc, SMTPServerDisconnected):
            return diagnosis.disconnected(name)
        if isinstance(exc, OSError):
            return diagnosis.network_error(name, exc)
        return self.internal(name, exc)

    def internal(self, name: StepName, exc: BaseException) -> StepFailure:
        """A fault of this service, not of the relay: logged (redacted), flagged, and said
        plainly."""
        log.error("internal error during the %s step of test %s: %s", STEP_LABELS[name],
                  self.test_id,
                  self.redactor.text("".join(traceback.format_exception(exc)).rstrip()))
        return failure_at(name)(
            f"internal error of this service during {STEP_LABELS[name]} "
            f"({type(exc).__name__}); this says nothing about the relay",
            hint="This is a fault in smtp-profile, not in your settings; the server log has "
                 "the details. Run the test again; if it persists, report it.",
            internal=True)

    def fail(self, failure: StepFailure) -> None:
        """Record a failure as its step's result: the one place a failure is recorded.

        A failure raised `from` another step's failure (AUTH failing because no new token
        could be had) records that one first.
        """
        if isinstance(failure.__cause__, StepFailure):
            self.fail(failure.__cause__)
        result = self._results[failure.step]
        result.status = StepStatus.FAILED
        result.message = failure.message
        result.hint = failure.hint
        result.internal = failure.internal
        if failure.reply_code is not None:
            result.reply_code = failure.reply_code
            result.reply_text = failure.reply_text
        result.details.update(failure.details)
        self._announce(result)

    def _scrub(self, result: StepResult) -> None:
        """Redact a step's texts; an AUTH reply keeps its code and enhanced status code."""
        redact = self.redactor
        result.reply_text = redact.optional(result.reply_text)
        result.message = redact.optional(result.message)
        result.hint = redact.optional(result.hint)
        result.details = redact.details(result.details)
        if result.name is StepName.AUTH and result.reply_code is not None:
            status = enhanced_status(result.reply_text)
            if status is not None:
                result.details["enhanced_status"] = status

    def _announce(self, result: StepResult) -> None:
        self._scrub(result)
        if self._on_step is not None:
            try:
                self._on_step(result)
            except Exception:
                log.exception("progress callback failed")

    def next_step(self) -> StepName:
        """The first step that has not run yet (the last one if all ran)."""
        pending = [r.name for r in self._results.values() if r.status is StepStatus.SKIPPED]
        return pending[0] if pending else list(self._results)[-1]

    def result(self, name: StepName) -> StepResult:
        return self._results[name]

    def client(self, line: str) -> None:
        self.transcript.append(self.redactor.text(f"C: {line}"))

    def client_secret(self, command: str) -> None:
        """A command whose argument is a credential: only its verb is kept."""
        self.transcript.append(f"C: {command} {REDACTED}".rstrip())

    def server(self, code: int, text: str) -> None:
        """A reply; a line that is not SMTP (code < 0) is never copied into the report."""
        if code < 0:
            self.transcript.append("S: (a reply that is not SMTP; not shown)")
            return
        text = self.redactor.text(text)
        lines = text.split("\n") if text else [""]
        for index, line in enumerate(lines):
            separator = " " if index == len(lines) - 1 else "-"
            self.transcript.append(f"S: {code}{separator}{line}".rstrip())

    def note(self, text: str) -> None:
        self.transcript.append(self.redactor.text(f"-- {text}"))

    def report(self) -> TestReport:
        """The report, redacted once more with every secret learned during the test."""
        for result in self._results.values():
            self._scrub(result)
        return TestReport(self.test_id, self.mode, list(self._results.values()),
                          [self.redactor.text(line) for line in self.transcript])

    @staticmethod
    def _finish(result: StepResult, started: float) -> None:
        result.duration_ms = round((time.perf_counter() - started) * 1000, 1)
