"""GET /SMTP in front of the framework: the read the platform makes for every mail.

A GET is answered here, before routing, only when everything is already known and
nothing can happen but the answer: valid Keyfactor headers, Basic credentials verified
before for an unchanged user with no failed sign-ins counted, the read permission, and
the stored profile's version already in memory. That costs one snapshot read (a version
check; on SQLite usually none) and no framework. Anything else (a first sign-in, a wrong
password, a throttled caller, a cookie, a bad header, a database error) goes on to the
routes, which do every check and its audit record. So this path can only send what the
route would send, byte for byte; tests compare the two.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from smtp_profile.domain.permissions import Permission
from smtp_profile.domain.stored import ProfileStamp
from smtp_profile.runtime import Runtime
from smtp_profile.server.api.smtp_routes import profile_response
from smtp_profile.server.context import (
    API_VERSION,
    REQUESTED_WITH,
    parse_basic,
    requested_with_ok,
    version_of,
)


class FastProfileRead:
    def __init__(self, app: ASGIApp, runtime: Runtime, path: str) -> None:
        self.app = app
        self.runtime = runtime
        self.path = path.rstrip("/").lower()
        self._responses: dict[tuple[ProfileStamp, int], Response] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] == "http" and scope["method"] == "GET"
                and scope["path"].rstrip("/").lower() == self.path):
            try:
                response = await self._answer(scope)
            except Exception:  # the routes will meet it again, and report it
                response = None
            if response is not None:
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _answer(self, scope: Scope) -> Response | None:
        headers = Headers(scope=scope)
        version = version_of(headers.get(API_VERSION))
        if version is None or not requested_with_ok(headers.get(REQUESTED_WITH)):
            return None
        credentials = parse_basic(headers.get("authorization"),
                                  self.runtime.settings.auth_domain)
        if credentials is None:
            return None
        client = scope["client"][0] if scope.get("client") else "unknown"
        admission = await self.runtime.sign_in.recognised(*credentials, client=client)
        if admission is None or not admission.principal.may(Permission.READ):
            return None
        stored = self.runtime.profiles.remembered(admission.profile_stamp)
        if stored is None:
            return None
        key = (stored.stamp, version)
        response = self._responses.get(key)
        if response is None:
            if any(stamp != stored.stamp for stamp, _ in self._responses):
                self._responses.clear()
            response = self._responses[key] = profile_response(stored, version)
        return response
