"""Records steps as a conversation runs: timing, outcome, and a redacted transcript."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from aiosmtplib.errors import SMTPResponseException, SMTPServerDisconnected, SMTPTimeoutError

from smtp_profile.domain.secrets import REDACTED
from smtp_profile.domain.steps import (
    STEP_LABELS,
    StepName,
    StepResult,
    StepStatus,
    TestMode,
    TestReport,
)
from smtp_profile.mailer import diagnosis
from smtp_profile.mailer.diagnosis import StepFailure

log = logging.getLogger(__name__)


class StopConversation(Exception):
    """Raised after a step failed and was recorded: the remaining steps are skipped."""


class Recorder:
    def __init__(self, test_id: str, mode: TestMode, plan: list[StepName],
                 on_step: Callable[[StepResult], None] | None = None) -> None:
        self.test_id = test_id
        self.mode = mode
        self._results = {name: StepResult(name) for name in plan}
        self._on_step = on_step
        self.current: StepName | None = None
        self.transcript: list[str] = []

    @asynccontextmanager
    async def step(self, name: StepName) -> AsyncIterator[StepResult]:
        """Time one step; an exception inside marks it failed and stops the test.

        A StepFailure is already explained; protocol errors get a generic explanation for
        the step. Cancellation (the whole-test timeout) passes through untouched; the
        caller marks the step that was running as timed out.
        """
        result = self._results[name]
        self.current = name
        started = time.perf_counter()
        try:
            yield result
        except Exception as exc:
            self._finish(result, started)
            self.fail(name, self._explain(name, exc))
            raise StopConversation from None
        else:
            self._finish(result, started)
            result.status = StepStatus.OK
            self.current = None
            self._announce(result)

    def _explain(self, name: StepName, exc: Exception) -> StepFailure:
        label = STEP_LABELS[name]
        if isinstance(exc, StepFailure):
            return exc
        if isinstance(exc, SMTPResponseException):
            self.server(exc.code, exc.message)
            return diagnosis.reply_failed(name.value, exc.code, exc.message)
        if isinstance(exc, SMTPTimeoutError):
            return diagnosis.read_timed_out(label)
        if isinstance(exc, SMTPServerDisconnected):
            return diagnosis.disconnected(label)
        if isinstance(exc, OSError):
            return StepFailure(f"network error during {label}: {exc.strerror or exc}")
        log.exception("unexpected error during the %s step of test %s", label, self.test_id)
        return StepFailure(f"unexpected error during {label} ({type(exc).__name__}); "
                           "the server log has the details", internal=True)

    def fail(self, name: StepName, failure: StepFailure) -> None:
        result = self._results[name]
        result.status = StepStatus.FAILED
        result.message = failure.message
        result.hint = failure.hint
        result.internal = failure.internal
        if failure.reply_code is not None:
            result.reply_code = failure.reply_code
            result.reply_text = failure.reply_text
        result.details.update(failure.details)
        self._announce(result)

    def mark_ok(self, name: StepName, duration_ms: float = 0.0,
                details: dict[str, object] | None = None,
                reply: tuple[int, str] | None = None) -> StepResult:
        """Record a step that succeeded outside `step()`."""
        result = self._results[name]
        result.status = StepStatus.OK
        result.duration_ms = round(duration_ms, 1)
        result.details.update(details or {})
        if reply is not None:
            result.reply_code, result.reply_text = reply
        self.current = None
        self._announce(result)
        return result

    def _announce(self, result: StepResult) -> None:
        if self._on_step is not None:
            try:
                self._on_step(result)
            except Exception:
                log.exception("progress callback failed")

    def result(self, name: StepName) -> StepResult:
        return self._results[name]

    def client(self, line: str) -> None:
        self.transcript.append(f"C: {line}")

    def client_secret(self, command: str) -> None:
        """A command whose argument is a credential: only its verb is kept."""
        self.transcript.append(f"C: {command} {REDACTED}".rstrip())

    def server(self, code: int, text: str) -> None:
        """A reply; a line that is not SMTP (code < 0) is never copied into the report."""
        if code < 0:
            self.transcript.append("S: (a reply that is not SMTP; not shown)")
            return
        lines = text.split("\n") if text else [""]
        for index, line in enumerate(lines):
            separator = " " if index == len(lines) - 1 else "-"
            self.transcript.append(f"S: {code}{separator}{line}".rstrip())

    def note(self, text: str) -> None:
        self.transcript.append(f"-- {text}")

    def report(self) -> TestReport:
        return TestReport(self.test_id, self.mode, list(self._results.values()),
                          list(self.transcript))

    @staticmethod
    def _finish(result: StepResult, started: float) -> None:
        result.duration_ms = round((time.perf_counter() - started) * 1000, 1)
