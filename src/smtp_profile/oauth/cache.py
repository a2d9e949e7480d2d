"""Access tokens kept in memory until shortly before they expire.

Tokens are never written anywhere. Entries are keyed by a keyed hash (HMAC under a
random per-process key) of everything that decides which token the identity provider
would issue: endpoint, client id, client secret, scope, audience and extra headers. So a
changed setting, or a wrong secret, never finds a token bought with other settings, and
the key itself reveals nothing about the secret.

One of the memories listed in `usecases/memory.py` (it has their interface: `stats`,
`clear`); it stays here, next to the token client that fills it.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from smtp_profile.domain.secrets import Secret
from smtp_profile.usecases.memory import MemoryStats

# A token is used until this long before it expires (or a tenth of its lifetime, if
# shorter), so a test that starts with it does not end with an expired one.
EXPIRY_MARGIN_SECONDS = 60.0
MAX_ENTRIES = 32
# However long the identity provider says a token lives, it is asked again after a day.
MAX_KEPT_SECONDS = 86400.0


@dataclass(frozen=True)
class _Entry:
    token: Secret = field(repr=False)
    usable_until: float
    expires_at: float


@dataclass(frozen=True)
class CachedToken:
    token: Secret = field(repr=False)
    expires_in: float


class TokenCache:
    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 max_entries: int = MAX_ENTRIES) -> None:
        self._clock = clock
        self._max_entries = max_entries
        self._hash_key = secrets.token_bytes(32)
        self._entries: dict[bytes, _Entry] = {}
        self.stats = MemoryStats()

    def key(self, identity: Sequence[str]) -> bytes:
        """The cache key of a token request; `identity` may contain the client secret."""
        mac = hmac.new(self._hash_key, digestmod=hashlib.sha256)
        for part in identity:
            encoded = part.encode("utf-8")
            mac.update(len(encoded).to_bytes(4, "big"))
            mac.update(encoded)
        return mac.digest()

    def get(self, key: bytes) -> CachedToken | None:
        """The kept token and the seconds it has left, unless it is (nearly) expired."""
        entry = self._entries.get(key)
        if entry is None:
            self.stats.misses += 1
            return None
        now = self._clock()
        if now >= entry.usable_until:
            del self._entries[key]
            self.stats.invalidations += 1
            self.stats.misses += 1
            return None
        self.stats.hits += 1
        return CachedToken(entry.token, round(entry.expires_at - now, 1))

    def put(self, key: bytes, token: Secret, expires_in: float | None) -> None:
        """Keep `token`; one without a lifetime (or a very short one) is not kept."""
        if expires_in is None or not math.isfinite(expires_in) or expires_in <= 0:
            return  # (a NaN would compare false with every clock reading: kept forever)
        expires_in = min(expires_in, MAX_KEPT_SECONDS)
        margin = min(EXPIRY_MARGIN_SECONDS, expires_in / 10)
        now = self._clock()
        self._entries = {k: e for k, e in self._entries.items() if e.usable_until > now}
        while len(self._entries) >= self._max_entries:
            soonest = min(self._entries, key=lambda k: self._entries[k].usable_until)
            del self._entries[soonest]
        self._entries[key] = _Entry(token, now + expires_in - margin, now + expires_in)

    def forget(self, key: bytes) -> None:
        """Drop the token for `key` (the relay refused it, or a fresh one is wanted)."""
        if self._entries.pop(key, None) is not None:
            self.stats.invalidations += 1

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
