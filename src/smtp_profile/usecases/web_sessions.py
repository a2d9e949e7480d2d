"""Web page sessions: a random token in a cookie, only its hash in the database.

Sessions have a fixed lifetime from sign-in (`SMTP_PROFILE_SESSION_MINUTES`), so the
cookie's Max-Age and the server agree and no request has to write to the database to
keep a session alive. The user's permissions are read with the session on every request,
so removing a permission takes effect at once.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from smtp_profile.domain.secrets import Secret
from smtp_profile.usecases.accounts import Principal
from smtp_profile.usecases.ports import DateClock, SessionStore

TOKEN_BYTES = 32
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


@dataclass(frozen=True)
class ActiveSession:
    principal: Principal
    expires_at: datetime


class WebSessions:
    def __init__(self, repository: SessionStore, lifetime: timedelta,
                 clock: DateClock = utc_now) -> None:
        self._repository = repository
        self.lifetime = lifetime
        self._clock = clock

    async def open(self, principal: Principal) -> OpenedSession:
        token = secrets.token_urlsafe(TOKEN_BYTES)
        now = self._clock()
        expires_at = now + self.lifetime
        await self._repository.add(token_hash(token), principal.name, now, expires_at)
        return OpenedSession(Secret(token), expires_at)

    async def resolve(self, token: str) -> ActiveSession | None:
        """The signed-in user behind `token`, or None if it is unknown or expired."""
        if not _TOKEN_SHAPE.match(token):
            return None
        record = await self._repository.find(token_hash(token), self._clock())
        if record is None:
            return None
        return ActiveSession(Principal(record.user_name, record.permissions), record.expires_at)

    async def close(self, token: str) -> bool:
        """End the session; False if there was none."""
        if not _TOKEN_SHAPE.match(token):
            return False
        return await self._repository.remove(token_hash(token))
