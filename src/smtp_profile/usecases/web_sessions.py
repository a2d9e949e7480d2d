"""Web page sessions: a random token in a cookie, only its hash in the database.

A session slides: each use moves its end to `lifetime` from now
(`SMTP_PROFILE_SESSION_MINUTES`), so an active user is never signed out in the middle of
their work, but never past `maximum` from sign-in (`SMTP_PROFILE_SESSION_MAX_MINUTES`,
also the cookie's Max-Age). The end is written at most once per `EXTEND_EVERY` (or a
quarter of the lifetime, if shorter), so a busy page does not write on every request.
The user's permissions are read with the session, so removing a permission takes
effect at once: the store remembers a session it found only while nothing was
committed since (usecases/memory.py, `sessions`), so a request that needs no write is
usually answered without touching the database (`remembered`).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from smtp_profile.domain.secrets import Secret
from smtp_profile.domain.stored import SessionRecord
from smtp_profile.usecases.accounts import Principal
from smtp_profile.usecases.ports import DateClock, SessionStore

TOKEN_BYTES = 32
EXTEND_EVERY = timedelta(minutes=1)
# token_urlsafe(32) gives 43 characters; anything else cannot be one of ours.
_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{43}$")


def token_hash(token: str) -> str:
    """The database key of a token. The token is 256 random bits, so no salt is needed."""
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class OpenedSession:
    """A new session: the token goes into the cookie and nowhere else."""

    token: Secret
    expires_at: datetime
    ends_by: datetime


@dataclass(frozen=True)
class ActiveSession:
    principal: Principal
    expires_at: datetime
    """When the session ends unless it is used again."""
    ends_by: datetime
    """When it ends however much it is used (sign-in plus the maximum)."""


class WebSessions:
    def __init__(self, repository: SessionStore, lifetime: timedelta,
                 clock: DateClock = utc_now, *, maximum: timedelta | None = None) -> None:
        """`maximum` None: no sliding, a session lasts `lifetime` from sign-in."""
        self._repository = repository
        self.lifetime = lifetime
        self.maximum = lifetime if maximum is None else maximum
        self._clock = clock
        self._step = min(EXTEND_EVERY, lifetime / 4)

    def now(self) -> datetime:
        """The time sessions go by (a page counts down from it, not from its own clock)."""
        return self._clock()

    async def open(self, principal: Principal) -> OpenedSession:
        token = secrets.token_urlsafe(TOKEN_BYTES)
        now = self._clock()
        ends_by = now + self.maximum
        expires_at = min(now + self.lifetime, ends_by)
        await self._repository.add(token_hash(token), principal.name, now, expires_at)
        return OpenedSession(Secret(token), expires_at, ends_by)

    async def resolve(self, token: str) -> ActiveSession | None:
        """The signed-in user behind `token`, or None if it is unknown or expired."""
        if not _TOKEN_SHAPE.match(token):
            return None
        now = self._clock()
        key = token_hash(token)
        record = await self._repository.find(key, now)
        if record is None:
            return None
        active, slide_to = self._judged(record, now)
        if active is not None and slide_to is not None:
            await self._repository.extend(key, slide_to)
            active = ActiveSession(active.principal, slide_to, active.ends_by)
        return active

    def remembered(self, token: str) -> ActiveSession | None:
        """What `resolve` would answer, when the store remembers the session and using
        it now writes nothing (its end is not due to slide); else None, and `resolve`
        must decide. No I/O."""
        if not _TOKEN_SHAPE.match(token):
            return None
        now = self._clock()
        record = self._repository.remembered(token_hash(token), now)
        if record is None:
            return None
        active, slide_to = self._judged(record, now)
        return active if slide_to is None else None

    def memory_epoch(self) -> int | None:
        """Changes whenever the remembered sessions are forgotten (a commit, a sign-out
        here); None when none are remembered."""
        return self._repository.epoch()

    def quiet_until(self, active: ActiveSession) -> datetime:
        """Until when `remembered`, having answered `active`, answers it again as long
        as nothing is committed: the session's stored end, the moment its end is due to
        slide, its maximum, whichever comes first. Whoever keeps `active` (the fast GET
        path) then needs only the clock, not the token's hash and the session memory."""
        expires_at, ends_by = active.expires_at, active.ends_by
        until = min(expires_at, ends_by)
        if expires_at < ends_by:  # due to slide once either rule in `_judged` says so
            until = min(until, expires_at + self._step - self.lifetime,
                        ends_by - self.lifetime)
        return until

    def _judged(self, record: SessionRecord,
                now: datetime) -> tuple[ActiveSession | None, datetime | None]:
        """The session a live record stands for (None: past its maximum, as a maximum
        lowered since sign-in makes it), and the end to slide it to now, if one is due."""
        ends_by = record.created_at + self.maximum
        if now >= ends_by:
            return None, None
        expires_at = record.expires_at
        wanted = min(now + self.lifetime, ends_by)
        due = wanted - expires_at >= self._step or (wanted == ends_by and expires_at < ends_by)
        return (ActiveSession(Principal(record.user_name, record.permissions), expires_at,
                              ends_by), wanted if due else None)

    async def close(self, token: str) -> bool:
        """End the session; False if there was none."""
        if not _TOKEN_SHAPE.match(token):
            return False
        return await self._repository.remove(token_hash(token))
