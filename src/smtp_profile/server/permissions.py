"""The checks every Keyfactor route starts with, as one FastAPI dependency: `requires`.

Order matters and is fixed: the Keyfactor headers first (cheap, reveal nothing), then the
credentials (401, or 429 while failed sign-ins must wait), then the permission (403).
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from smtp_profile.domain.actor import Actor
from smtp_profile.domain.audit import AuditAction, Outcome
from smtp_profile.domain.errors import DomainError, ErrorKind
from smtp_profile.domain.permissions import Permission
from smtp_profile.domain.stored import ProfileStamp, Snapshot
from smtp_profile.server.authentication import authenticate
from smtp_profile.server.keyfactor_headers import api_version, require_requested_with
from smtp_profile.server.request_state import client_address, runtime_of
from smtp_profile.usecases.accounts import Principal


@dataclass(frozen=True)
class CallContext:
    """A permitted call: who, in which API version, from where."""

    principal: Principal
    version: int
    client: str
    snapshot: Snapshot | None = None
    """The stored state read with the credentials (None for the web page's session)."""

    @property
    def profile_stamp(self) -> ProfileStamp | None:
        return None if self.snapshot is None else self.snapshot.profile_stamp

    @property
    def actor(self) -> Actor:
        return Actor(self.principal.name, self.client)


class Requirement:
    """A FastAPI dependency: the Keyfactor headers, the caller, and `permission` (None:
    any signed-in caller). A class, so that GET /Status/Endpoints can read off each
    route what it requires (server/api/status_routes.py)."""

    def __init__(self, permission: Permission | None, audited: AuditAction | None) -> None:
        self.permission = permission
        self.audited = audited

    async def __call__(self, request: Request) -> CallContext:
        require_requested_with(request)
        version = api_version(request)
        caller = await authenticate(request)
        principal = caller.principal
        client = client_address(request)
        if self.permission is not None and not principal.may(self.permission):
            error = DomainError(
                ErrorKind.FORBIDDEN,
                f"User '{principal.name}' does not have the permission "
                f"{self.permission.value}.",
            )
            if self.audited is not None:
                await runtime_of(request).audit.record(
                    action=self.audited, user=principal.name, client=client,
                    outcome=Outcome.of_error(error),
                )
            raise error
        return CallContext(principal, version, client, caller.snapshot)


def requires(permission: Permission | None, *,
             audited: AuditAction | None = None) -> Requirement:
    """A FastAPI dependency: the Keyfactor headers, the caller, and `permission`.

    With `audited`, a caller refused for lack of the permission is recorded under that
    action (a read-only user trying a PUT is worth knowing about).
    """
    return Requirement(permission, audited)
