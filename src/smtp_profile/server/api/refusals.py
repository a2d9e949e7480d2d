"""Refused requests the service never sees, recorded in the audit trail all the same."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

from starlette.requests import Request

from smtp_profile.domain.audit import AuditAction, Outcome
from smtp_profile.domain.errors import DomainError
from smtp_profile.server.permissions import CallContext
from smtp_profile.server.request_state import runtime_of

T = TypeVar("T")


async def refusals_recorded(request: Request, context: CallContext, action: AuditAction,
                            step: Awaitable[T]) -> T:
    """Await `step` (reading and decoding the request); a refusal goes in the audit trail.

    The service records what happens from the decoded request on; this records the
    requests it never sees (bad body, bad If-Match).
    """
    try:
        return await step
    except DomainError as error:
        await runtime_of(request).audit.record(
            action=action, user=context.principal.name, client=context.client,
            outcome=Outcome.of_error(error),
        )
        raise
