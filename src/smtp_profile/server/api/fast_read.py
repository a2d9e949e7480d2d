"""GET /SMTP in front of the framework: the read the platform makes for every mail.

A GET is answered here, in front of the framework's whole stack (server/app.py
`ServiceApp`: no middleware, no routing, two pre-built ASGI messages), only when
everything is already known and
nothing can happen but the answer: valid Keyfactor headers, Basic credentials verified
before for an unchanged user with no failed sign-ins counted (or a bearer token
verified before that has not expired, or the web page's session cookie resolved before,
with nothing committed since and no slide of its end due), the read permission, and the
stored profile's version already in memory. That costs one snapshot read (a version
check; usually none while nothing was committed) and no framework. Anything else (a
first sign-in, a wrong password, a throttled caller, a session not resolved since the
last commit or due to slide, a cookie without the page's header, a bad header, a
database error) goes on to the routes, which do every check, write and audit record.
So this path can only send what the route would send, byte for byte; tests compare
the two.

Every GET it leaves to the routes is counted by reason and logged at debug level (the
reason only, never a credential), so a fast path that stopped answering shows in
`app.state.fast_read` and in the log instead of only in the latency.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from starlette.datastructures import Headers
from starlette.types import Message, Scope, Send

from smtp_profile.domain.permissions import Permission
from smtp_profile.domain.stored import ProfileStamp, Snapshot
from smtp_profile.runtime import Runtime
from smtp_profile.server.answer_headers import completed_headers
from smtp_profile.server.api.profile_answers import profile_response
from smtp_profile.server.authentication import basic_login, bearer_token, session_cookie
from smtp_profile.server.keyfactor_headers import (
    API_VERSION,
    REQUESTED_WITH,
    RequestedWith,
    requested_with,
    version_of,
)
from smtp_profile.server.request_state import client_address_of
from smtp_profile.usecases.memory import LatestByStamp, RecognisedHeaders
from smtp_profile.usecases.ports import StoreFault, StoreUnavailable

log = logging.getLogger(__name__)


class Fallback(StrEnum):
    """Why a GET went on to the routes."""

    HEADERS = "headers"
    """x-keyfactor-requested-with or x-keyfactor-api-version the routes will refuse."""
    NO_BASIC_CREDENTIALS = "no-basic-credentials"
    """No Authorization header and no session cookie the page's header makes count, one
    that holds neither acceptable Basic credentials nor a bearer token, or Basic
    switched off."""
    SESSION_NOT_RECOGNISED = "session-not-recognised"
    """A session cookie (with the page's header) not resolved since the last commit,
    one whose end is due to slide (the routes write it), or one not valid (the routes
    refuse it)."""
    BEARER_NOT_RECOGNISED = "bearer-token-not-recognised"
    """A bearer token not verified before (or expired since, or no identity provider
    configured): the routes verify it, or refuse it."""
    NOT_RECOGNISED = "sign-in-not-recognised"
    """The sign-in must be decided by the routes: a password not verified before, a
    changed user, failed sign-ins counted, a wait, an address new for the user."""
    NO_READ_PERMISSION = "no-read-permission"
    PROFILE_NOT_IN_MEMORY = "profile-not-in-memory"
    """The profile's version in the snapshot is not the one in memory."""
    STORE_UNAVAILABLE = "store-unavailable"
    """The snapshot read failed; the routes read again and answer 503 if it fails again."""
    STORE_FAULT = "store-fault"
    """The database refused the snapshot read as inconsistent; the routes report it."""
    ERROR = "error"
    """Anything else went wrong here: logged with its traceback; the routes answer."""


_API_VERSION = API_VERSION.encode()
_REQUESTED_WITH = REQUESTED_WITH.encode()
_AUTHORIZATION = b"authorization"
_COOKIE = b"cookie"
_READ = frozenset((_API_VERSION, _REQUESTED_WITH, _AUTHORIZATION, _COOKIE))
"""The headers this path reads (uvicorn gives names in lower case)."""


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("latin-1")


@dataclass
class FastReadCounts:
    """GETs answered here, and those left to the routes by reason (app.state.fast_read)."""

    answered: int = 0
    fallbacks: Counter[Fallback] = field(default_factory=Counter)


@dataclass(frozen=True)
class FastAnswer:
    """The route's answer for one profile stamp and API version, as the two ASGI messages
    it sends, its headers completed as `AnswerHeaders` would (plain HTTP and HTTPS)."""

    status: int
    headers: list[tuple[bytes, bytes]]
    https_headers: list[tuple[bytes, bytes]]
    body: bytes

    async def send(self, scope: Scope, send: Send) -> None:
        headers = self.https_headers if scope.get("scheme") == "https" else self.headers
        start: Message = {"type": "http.response.start", "status": self.status,
                          "headers": headers}
        await send(start)
        await send({"type": "http.response.body", "body": self.body})


@dataclass(frozen=True, slots=True)
class RecognisedLogin:
    """A Basic header's user, and the snapshot its sign-in was recognised on: valid
    exactly while that very snapshot is the one remembered for the user and address (a
    commit anywhere, or a write here, drops it), and kept only when no sign-in counter
    was counted (nothing that changes with the clock decided it)."""

    name: str
    snapshot: Snapshot


@dataclass(frozen=True, slots=True)
class RecognisedCookie:
    """A Cookie header whose web session was recognised, on the snapshot it was
    recognised with: valid while that very snapshot is remembered for the address (no
    commit since), the session memory was not emptied since (a sign-out here empties it
    before its commit is heard of), and the clock is before the moment the session
    would end or be due to slide (`WebSessions.quiet_until`)."""

    snapshot: Snapshot
    sessions_epoch: int
    quiet_until: datetime


class FastProfileRead:
    """Answers the GETs it can (`answered`); `ServiceApp` passes the rest on."""

    def __init__(self, runtime: Runtime, path: str, counts: FastReadCounts) -> None:
        self.runtime = runtime
        self.path = path.rstrip("/").lower()
        self.counts = counts
        # The answers per API version, valid for exactly the profile's stamp; listed
        # with the process's other memories (usecases/memory.py) as answers_v1/answers_v2.
        self._answers: dict[int, LatestByStamp[ProfileStamp, FastAnswer]] = {
            version: LatestByStamp() for version in (1, 2)}
        for version, memory in self._answers.items():
            runtime.memory.adapters[f"answers_v{version}"] = memory
        # Basic headers recognised before: a look-up spares decoding the header and
        # looking up the user, the password and the counters again.
        self._logins: RecognisedHeaders[RecognisedLogin] = RecognisedHeaders()
        runtime.memory.adapters["recognised_logins"] = self._logins
        # Cookie headers recognised before: a look-up spares parsing the cookie, hashing
        # its token and looking the session up again.
        self._cookies: RecognisedHeaders[RecognisedCookie] = RecognisedHeaders()
        runtime.memory.adapters["recognised_cookies"] = self._cookies

    async def answered(self, scope: Scope, send: Send) -> bool:
        """Whether this GET was answered here; False leaves it, untouched, to the app."""
        if not (scope["type"] == "http" and scope["method"] == "GET"
                and scope["path"].rstrip("/").lower() == self.path):
            return False
        try:
            answer = await self._answer(scope)
        except Exception:  # a fault here must never cost the caller the routes' answer
            log.exception("the fast GET path failed; the routes answer instead")
            answer = Fallback.ERROR
        if isinstance(answer, Fallback):
            self.counts.fallbacks[answer] += 1
            log.debug("GET %s left to the routes: %s", scope["path"], answer.value)
            return False
        self.counts.answered += 1
        await answer.send(scope, send)
        return True

    async def _answer(self, scope: Scope) -> FastAnswer | Fallback:
        # One pass over the raw headers for the three this path reads (the first of each,
        # as starlette's Headers.get reads them): a Headers object and three look-ups,
        # each a scan of its own, were a tenth of this path's time.
        # The same pass counts the Cookie headers after the first (several are parsed).
        found: dict[bytes, bytes] = {}
        more_cookies = 0
        for name, value in scope["headers"]:
            if name in _READ:
                if name not in found:
                    found[name] = value
                elif name == _COOKIE:
                    more_cookies += 1
        version = version_of(_text(found.get(_API_VERSION)))
        asking = requested_with(_text(found.get(_REQUESTED_WITH)))
        if version is None or asking is None:
            return Fallback.HEADERS
        raw_authorization = found.get(_AUTHORIZATION)
        authorization = _text(raw_authorization)
        token = bearer_token(authorization)
        client = client_address_of(scope)
        cookie: str | None = None
        raw_cookie: bytes | None = None
        if authorization is None and asking is RequestedWith.PAGE:
            # One Cookie header is recognised as a whole; several are parsed every time.
            raw_cookie = None if more_cookies else found.get(_COOKIE)
            known = None if raw_cookie is None else self._recognised_cookie(raw_cookie,
                                                                            client)
            if known is not None:
                return self._answer_for(known, version)
            cookie = session_cookie(Headers(scope=scope))
        try:
            if cookie:
                stamp = await self._session_stamp(cookie, client, raw_cookie)
            elif token is not None:
                stamp = await self._bearer_stamp(token, client)
            else:
                stamp = await self._basic_stamp(raw_authorization, authorization, client)
        except StoreUnavailable:  # the routes meet it again, and answer 503
            return Fallback.STORE_UNAVAILABLE
        except StoreFault:  # the routes meet it again, and log it with a reference
            return Fallback.STORE_FAULT
        if isinstance(stamp, Fallback):
            return stamp
        return self._answer_for(stamp, version)

    def _answer_for(self, stamp: ProfileStamp, version: int) -> FastAnswer | Fallback:
        """The answer for the profile `stamp` names, if that profile is in memory."""
        stored = self.runtime.profiles.remembered(stamp)
        if stored is None:
            return Fallback.PROFILE_NOT_IN_MEMORY
        answers = self._answers[version]
        answer = answers.get(stored.stamp)
        if answer is None:
            response = profile_response(stored, version)
            raw = list(response.raw_headers)
            answer = FastAnswer(response.status_code, completed_headers(raw, False),
                                completed_headers(raw, True), bytes(response.body))
            answers.put(stored.stamp, answer)
        return answer

    async def _basic_stamp(self, raw: bytes | None, authorization: str | None,
                           client: str) -> ProfileStamp | Fallback:
        """The profile stamp for a caller whose Basic credentials were verified before."""
        if raw is not None:
            login_seen = self._logins.get(raw, client)
            if login_seen is not None:
                snapshot = self.runtime.snapshots.remembered(login_seen.name, client)
                if snapshot is login_seen.snapshot:
                    return snapshot.profile_stamp
                self._logins.drop(raw, client)
        login = basic_login(authorization, self.runtime.settings.auth_domain)
        if login is None or not self.runtime.settings.basic_auth:  # --no-basic-auth
            return Fallback.NO_BASIC_CREDENTIALS
        admission = await self.runtime.sign_in.recognised(*login, client=client)
        if admission is None:
            return Fallback.NOT_RECOGNISED
        if not admission.principal.may(Permission.READ):
            return Fallback.NO_READ_PERMISSION
        if raw is not None and not admission.snapshot.counters:
            self._logins.put(raw, client, RecognisedLogin(login[0], admission.snapshot))
        return admission.profile_stamp

    def _recognised_cookie(self, raw: bytes, client: str) -> ProfileStamp | None:
        """The profile stamp for a Cookie header recognised before, while what
        recognised it still holds (see `RecognisedCookie`); else None."""
        seen = self._cookies.get(raw, client)
        if seen is None:
            return None
        sessions = self.runtime.sessions
        if (self.runtime.snapshots.remembered("", client) is seen.snapshot
                and sessions.memory_epoch() == seen.sessions_epoch
                and sessions.now() < seen.quiet_until):
            return seen.snapshot.profile_stamp
        self._cookies.drop(raw, client)
        return None

    async def _session_stamp(self, cookie: str, client: str,
                             raw_cookie: bytes | None) -> ProfileStamp | Fallback:
        """The profile stamp for the web page's session, resolved before and unchanged
        since, whose use now writes nothing: no session read, no snapshot read while
        nothing was committed. The Cookie header is recognised for next time when the
        session and the snapshot were remembered at the same commit counter."""
        sessions, snapshots = self.runtime.sessions, self.runtime.snapshots
        active = sessions.remembered(cookie)
        if active is None:
            return Fallback.SESSION_NOT_RECOGNISED
        if not active.principal.may(Permission.READ):
            return Fallback.NO_READ_PERMISSION
        epoch, counter = sessions.memory_epoch(), snapshots.commit_counter()
        stamp = await self.runtime.sign_in.profile_stamp(client)
        if (raw_cookie is not None and epoch is not None and counter is not None
                and snapshots.commit_counter() == counter
                and sessions.memory_epoch() == epoch):
            snapshot = snapshots.remembered("", client)
            if snapshot is not None and snapshot.profile_stamp == stamp:
                self._cookies.put(raw_cookie, client, RecognisedCookie(
                    snapshot, epoch, sessions.quiet_until(active)))
        return stamp

    async def _bearer_stamp(self, token: str, client: str) -> ProfileStamp | Fallback:
        """The profile stamp for a bearer token verified before that has not expired:
        no signature check, and the snapshot from memory while nothing changed."""
        bearer = self.runtime.bearer
        caller = None if bearer is None else bearer.remembered(token)
        if caller is None:
            return Fallback.BEARER_NOT_RECOGNISED
        if not caller.principal.may(Permission.READ):
            return Fallback.NO_READ_PERMISSION
        return await self.runtime.sign_in.profile_stamp(client)
