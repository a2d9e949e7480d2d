"""The last test of the stored profile: what an operator checks before trusting mail."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from smtp_profile.domain.steps import StepName, TestMode, TestReport


@dataclass(frozen=True)
class LastTest:
    test_id: str
    tested_at: datetime
    tested_by: str
    mode: TestMode
    success: bool
    failed_step: StepName | None
    message: str | None
    profile_version: int
    certificate_not_after: datetime | None


def summarize(report: TestReport, *, tested_at: datetime, tested_by: str,
              profile_version: int) -> LastTest:
    failed = report.failed_step
    certificate = report.step(StepName.CERTIFICATE)
    not_after = certificate.details.get("not_after") if certificate else None
    return LastTest(
        test_id=report.test_id,
        tested_at=tested_at,
        tested_by=tested_by,
        mode=report.mode,
        success=report.success,
        failed_step=failed.name if failed else None,
        message=report.failure_summary() if failed else None,
        profile_version=profile_version,
        certificate_not_after=datetime.fromisoformat(not_after)
        if isinstance(not_after, str) else None,
    )
