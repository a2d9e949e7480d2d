"""What this process keeps in memory of the stored state, and what makes each copy stale.

Every API call needs the caller's user and counters and, for a GET, the profile: the
copies below spare the database most of those reads (GET /SMTP reads them on every
request). Each copy is only as right as its invalidation rule, so every rule is stated
here, once, next to the copy; the store adapters fill and consult the copies that
`runtime.py` hands them and never keep one of their own.

- `profile` (`LatestByStamp`): the profile last read or written, valid for exactly its
  stamp (version and random generation). Every write makes a new stamp, and a request
  asks with the stamp its snapshot just read, so a write anywhere is a miss at once.
- `options` (`LatestByStamp`): the relay options last read, valid for exactly their
  save time as the snapshot carries it. A save on this instance forgets them; a save on
  another changes the save time.
- `client certificate` (`LatestByStamp`): the relay client certificate last read or
  written, valid for exactly its version as the snapshot carries it. Every save and
  removal moves the version (a compare-and-swap), here or on another instance, so a
  Test that read a snapshot after the change misses at once.
- `snapshots` (`CommitGuarded`): per (user, address), valid while a commit counter
  stands still: SQLite's `PRAGMA data_version` (moved by any connection's commit, in
  this process or another), or on PostgreSQL the count of change notifications the
  tables' triggers send (`store/change_feed.py`). A moved or unreadable counter (the
  feed's connection is down) drops them all.
- `bearer_tokens` (`VerifiedTokens`): a bearer token whose signature and claims the
  identity provider's keys verified, with the caller its claims name, until the token's
  own `exp` (every look compares it with the clock) and only under the keys it was
  verified with: a new fetch of the provider's keys (`key_generation`) makes every
  token be verified again, so a key withdrawn by the provider stops its tokens at
  once. Keyed by a MAC of the token (`keyed_digest`), so the memory holds no token;
  a token without `exp` is never kept.
- `sessions` (`ResolvedSessions`): a web session the database resolved (its user's name
  and permissions, its sign-in time and stored end), guarded like `snapshots` by the
  commit counter: a sign-out, a removed user, a changed password or permission, a
  slid end, written by any instance or command, is a commit (on PostgreSQL the
  `users` and `web_sessions` triggers notify) and drops them all. Valid only until the
  stored end (every look compares it with the clock), so an idle session ends on time
  with nothing written; the maximum is within that end. A sign-out on this instance
  drops them all at once, without waiting for its own commit to be noticed. Keyed by a
  MAC (`keyed_digest`) of the token's hash, so the memory holds neither the cookie nor the
  database's key of it.
- `passwords` (`VerifiedPasswords`): MACs (`keyed_digest`) of (stored hash, password) that argon2
  accepted. Never stale: a changed password is a changed stored hash, so its entries
  simply stop matching; beyond a bound the least recently used are forgotten.
- `pam secrets` (`FetchedSecrets`): values fetched from PAM providers, keyed by (provider
  Id, provider version, reference parameters), for at most `--pam-cache-seconds` (0:
  never kept). A changed provider has a new version and a changed reference new
  parameters, so neither finds an old value; a provider's change or removal on this
  instance also drops its values at once. A rotation inside the vault is seen when the
  value expires, or at once by a Diagnose, which always fetches.

Five memories stay in their adapters, since moving them would bring the adapters'
types inward; they have the same small interface (`Memory`: `stats`, `clear`) and are
listed in `StateMemory.adapters`:

- the token cache (`oauth/cache.py`): an access token until shortly before it expires,
  keyed by an HMAC of everything that decides which token would be issued;
- the TLS contexts (`mailer/tls.py`, a `Bounded` memory): per CA bundle text, first in
  first out; a context depends only on the text it was built from, so none is stale.
- the fast GET path's answers (`server/api/fast_read.py`, a `LatestByStamp` per API
  version): the response bytes for exactly the profile's stamp, like `profile` above.
- the fast GET path's recognised Basic headers (`recognised_logins`, a
  `RecognisedHeaders`): by a MAC of the header and the address, the user and the very
  snapshot the sign-in was recognised on; used only while that snapshot is still the
  one remembered, so whatever drops it (a commit anywhere, a write here) drops this.
- the fast GET path's recognised Cookie headers (`recognised_cookies`, a
  `RecognisedHeaders`): by a MAC of the header and the address, the snapshot a web
  session was recognised with, the session memory's `epoch` then, and the moment the
  session would end or be due to slide; used only while that snapshot is still the one
  remembered, the session memory was not emptied since (a sign-out here), and the
  clock is before that moment.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from cachetools import LRUCache, TTLCache

from smtp_profile.domain.client_certificate import StoredClientCertificate
from smtp_profile.domain.secrets import Secret
from smtp_profile.domain.stored import (
    ProfileStamp,
    SessionRecord,
    Snapshot,
    StoredOptions,
    StoredProfile,
)

K = TypeVar("K")
V = TypeVar("V")

SNAPSHOTS = 1024
VERIFIED_PASSWORDS = 1024
VERIFIED_TOKENS = 1024
RESOLVED_SESSIONS = 1024
RECOGNISED_HEADERS = 1024


@dataclass
class MemoryStats:
    """How a memory fared: answers it had, answers it lacked, and how often the stored
    state moved on under it (copies dropped or replaced by a newer one)."""

    hits: int = 0
    misses: int = 0
    invalidations: int = 0


class Memory(Protocol):
    """The one interface every in-memory copy has, whoever holds it."""

    @property
    def stats(self) -> MemoryStats: ...

    def clear(self) -> None:
        """Forget everything (the next look is a miss); never wrong, only slower."""
        ...


class LatestByStamp(Generic[K, V]):
    """One value, valid for exactly the stamp it was kept with."""

    def __init__(self) -> None:
        self._latest: tuple[K, V] | None = None
        self.stats = MemoryStats()

    def get(self, stamp: K) -> V | None:
        latest = self._latest
        if latest is not None and (latest[0] is stamp or latest[0] == stamp):
            self.stats.hits += 1
            return latest[1]
        self.stats.misses += 1
        return None

    def put(self, stamp: K, value: V) -> None:
        """Keep `value` as the latest. The last one kept wins: an older read landing
        late only costs a miss, as a look-up must match the stamp exactly."""
        latest = self._latest
        if latest is not None and latest[0] != stamp:
            self.stats.invalidations += 1
        self._latest = (stamp, value)

    def forget(self) -> None:
        """The stored value changed here and its new stamp is not known yet."""
        if self._latest is not None:
            self.stats.invalidations += 1
        self._latest = None

    def clear(self) -> None:
        self._latest = None


class CommitGuarded(Generic[K, V]):
    """Copies valid while a commit counter stands still; beyond `maxsize`, the least
    recently used go first."""

    def __init__(self, maxsize: int = SNAPSHOTS) -> None:
        self._copies: LRUCache[K, V] = LRUCache(maxsize)
        self._seen: int | None = None
        self.epoch = 0
        """Moves whenever every copy is dropped (a moved counter, `invalidate`,
        `clear`): whoever keeps something decided on a copy checks it stands still."""
        self.stats = MemoryStats()

    @property
    def seen(self) -> int | None:
        """The counter at the last look (None: not looked, or unreadable)."""
        return self._seen

    def get(self, key: K, counter: int | None,
            valid: Callable[[V], bool] | None = None) -> V | None:
        """The copy for `key` if the counter still reads as at the last look (and, with
        `valid`, if the copy still passes it; one that fails is dropped). A moved
        counter (or None: it could not be read) drops every copy first.

        Look before any read this guards: a commit racing that read then moves the
        counter after the look, and the next look drops what the read kept."""
        if counter is None or counter != self._seen:
            if self._seen is not None:
                self.stats.invalidations += 1
            self._copies.clear()
            self.epoch += 1
            self._seen = counter
            self.stats.misses += 1
            return None
        copy = self._copies.get(key)
        if copy is not None and valid is not None and not valid(copy):
            self._copies.pop(key, None)
            self.stats.invalidations += 1
            copy = None
        if copy is None:
            self.stats.misses += 1
        else:
            self.stats.hits += 1
        return copy

    def put(self, key: K, value: V, *, looked_at: int | None) -> None:
        """Keep `value`, read after a look that saw `looked_at`, unless a look since saw
        the counter move (an awaited read may predate a commit a newer look saw)."""
        if looked_at is not None and looked_at == self._seen:
            self._copies[key] = value

    def invalidate(self) -> None:
        """Something they hold changed here: drop every copy, and refuse any read now
        in flight (it looked before this), as a moved counter would."""
        if self._seen is not None:
            self.stats.invalidations += 1
        self.clear()

    def clear(self) -> None:
        self._copies.clear()
        self.epoch += 1
        self._seen = None


MEMORY_KEY_BYTES = 32
"""The size of each memory's own random key."""


def keyed_digest(key: bytes, data: bytes) -> bytes:
    """What a memory keys a credential by: BLAKE2b in its keyed mode, a MAC (RFC 7693,
    section 3), under a key that never leaves the process. It replaced HMAC-SHA256 by
    `hmac.digest(key, data, "sha256")`, which looks the digest up in OpenSSL by name on
    every call: about 5 µs against 1.4 µs here, paid on every recognised GET."""
    return hashlib.blake2b(data, key=key, digest_size=32).digest()


class RecognisedHeaders(Generic[V]):
    """What an Authorization header was recognised as, from one address, by a MAC of
    the two (`keyed_digest`: the memory holds no credential); bounded, the least
    recently used go first. It only spares decoding and looking the caller up again:
    whoever keeps a value keeps with it what makes it still true, and checks that
    first (the fast GET path: the very snapshot it was decided on)."""

    def __init__(self, maxsize: int = RECOGNISED_HEADERS) -> None:
        self._key = secrets.token_bytes(MEMORY_KEY_BYTES)
        self._copies: LRUCache[bytes, V] = LRUCache(maxsize)
        self.stats = MemoryStats()

    def _mac(self, header: bytes, client: str) -> bytes:
        return keyed_digest(self._key, header + b"\x00" + client.encode("utf-8",
                                                                         "surrogatepass"))

    def get(self, header: bytes, client: str) -> V | None:
        copy = self._copies.get(self._mac(header, client))
        if copy is None:
            self.stats.misses += 1
        else:
            self.stats.hits += 1
        return copy

    def put(self, header: bytes, client: str, value: V) -> None:
        self._copies[self._mac(header, client)] = value

    def drop(self, header: bytes, client: str) -> None:
        """What it was recognised as no longer holds."""
        if self._copies.pop(self._mac(header, client), None) is not None:
            self.stats.invalidations += 1

    def clear(self) -> None:
        self._copies.clear()


class ResolvedSessions:
    """Web sessions the database resolved, while a commit counter stands still and
    until their stored end; keyed by MACs under a key that never leaves the process."""

    def __init__(self, maxsize: int = RESOLVED_SESSIONS) -> None:
        self._key = secrets.token_bytes(MEMORY_KEY_BYTES)
        self._copies: CommitGuarded[bytes, SessionRecord] = CommitGuarded(maxsize)

    @property
    def stats(self) -> MemoryStats:
        return self._copies.stats

    @property
    def seen(self) -> int | None:
        """The counter at the last look (see `CommitGuarded.seen`)."""
        return self._copies.seen

    @property
    def epoch(self) -> int:
        """Moves whenever every session is forgotten (see `CommitGuarded.epoch`)."""
        return self._copies.epoch

    def _token(self, token_hash: str) -> bytes:
        return keyed_digest(self._key, token_hash.encode("ascii"))

    def get(self, token_hash: str, counter: int | None, now: datetime) -> SessionRecord | None:
        """The session, if the counter stands still and its stored end is after `now`."""
        return self._copies.get(self._token(token_hash), counter,
                                lambda record: now < record.expires_at)

    def put(self, token_hash: str, record: SessionRecord, *, looked_at: int | None) -> None:
        self._copies.put(self._token(token_hash), record, looked_at=looked_at)

    def invalidate(self) -> None:
        self._copies.invalidate()

    def clear(self) -> None:
        self._copies.clear()


class Bounded(Generic[K, V]):
    """Values that never go stale, bounded by the cachetools cache given (its class
    says which go first)."""

    def __init__(self, cache: MutableMapping[K, V]) -> None:
        self._cache = cache
        self.stats = MemoryStats()

    def get(self, key: K) -> V | None:
        value = self._cache.get(key)
        if value is None:
            self.stats.misses += 1
        else:
            self.stats.hits += 1
        return value

    def put(self, key: K, value: V) -> None:
        self._cache[key] = value

    def clear(self) -> None:
        self._cache.clear()


class VerifiedPasswords:
    """Passwords argon2 accepted for a stored hash, as MACs under a key that never
    leaves the process: the memory holds no password and no hash."""

    def __init__(self, maxsize: int = VERIFIED_PASSWORDS) -> None:
        self._key = secrets.token_bytes(MEMORY_KEY_BYTES)
        self._verified: LRUCache[bytes, None] = LRUCache(maxsize)
        self.stats = MemoryStats()

    def _token(self, stored_hash: str, password: Secret) -> bytes:
        return keyed_digest(self._key, stored_hash.encode() + b"\x00" +
                            password.reveal().encode("utf-8", "surrogatepass"))

    def knows(self, stored_hash: str, password: Secret, *, refresh: bool = False) -> bool:
        """Whether `password` was accepted for `stored_hash`; `refresh` makes it the most
        recently used (a real check's look, not a fast path's glance)."""
        token = self._token(stored_hash, password)
        if token not in self._verified:
            self.stats.misses += 1
            return False
        if refresh:
            _ = self._verified[token]  # reading it makes it the most recently used
        self.stats.hits += 1
        return True

    def keep(self, stored_hash: str, password: Secret) -> None:
        self._verified[self._token(stored_hash, password)] = None

    def clear(self) -> None:
        self._verified.clear()


class VerifiedTokens(Generic[V]):
    """Bearer tokens verified before, each with what it was verified as, until it
    expires; bounded, the least recently used go first."""

    def __init__(self, maxsize: int = VERIFIED_TOKENS) -> None:
        self._key = secrets.token_bytes(MEMORY_KEY_BYTES)
        self._verified: LRUCache[bytes, tuple[V, float]] = LRUCache(maxsize)
        self.stats = MemoryStats()

    def _token(self, token: str) -> bytes:
        return keyed_digest(self._key, token.encode("utf-8", "surrogatepass"))

    def get(self, token: str, now: float) -> V | None:
        """What `token` was verified as, if it was and has not expired at `now`."""
        key = self._token(token)
        kept = self._verified.get(key)
        if kept is not None and now < kept[1]:
            self.stats.hits += 1
            return kept[0]
        if kept is not None:
            self.stats.invalidations += 1
            self._verified.pop(key, None)
        self.stats.misses += 1
        return None

    def put(self, token: str, value: V, expires_at: float) -> None:
        self._verified[self._token(token)] = (value, expires_at)

    def clear(self) -> None:
        self._verified.clear()
FETCHED_SECRETS = 256

FetchedKey = tuple[int, int, tuple[tuple[str, str], ...]]
"""(provider Id, provider version, the reference's parameters)."""


class FetchedSecrets:
    """Values fetched from PAM providers, for at most `seconds` (0: none kept)."""

    def __init__(self, seconds: float, maxsize: int = FETCHED_SECRETS,
                 timer: Callable[[], float] | None = None) -> None:
        self.seconds = seconds
        self._values: TTLCache[FetchedKey, Secret] | None = None
        if seconds > 0:
            self._values = (TTLCache(maxsize, seconds) if timer is None
                            else TTLCache(maxsize, seconds, timer=timer))
        self.stats = MemoryStats()

    def get(self, key: FetchedKey) -> Secret | None:
        value = None if self._values is None else self._values.get(key)
        if value is None:
            self.stats.misses += 1
        else:
            self.stats.hits += 1
        return value

    def put(self, key: FetchedKey, value: Secret) -> None:
        if self._values is not None:
            self._values[key] = value

    def forget(self, provider_id: int) -> None:
        """Drop every value fetched through the provider (it changed or went away)."""
        if self._values is None:
            return
        for key in [k for k in self._values if k[0] == provider_id]:
            self._values.pop(key, None)
            self.stats.invalidations += 1

    def clear(self) -> None:
        if self._values is not None:
            self._values.clear()


@dataclass
class StateMemory:
    """The process's memories, made once by `runtime.py` and handed to the adapters that
    fill them; `stats()` tells how each fared (tests read it)."""

    profile: LatestByStamp[ProfileStamp, StoredProfile] = field(
        default_factory=LatestByStamp)
    options: LatestByStamp[datetime | None, StoredOptions] = field(
        default_factory=LatestByStamp)
    client_certificate: LatestByStamp[int, StoredClientCertificate] = field(
        default_factory=LatestByStamp)
    snapshots: CommitGuarded[tuple[str, str], Snapshot] = field(
        default_factory=CommitGuarded)
    passwords: VerifiedPasswords = field(default_factory=VerifiedPasswords)
    bearer_tokens: VerifiedTokens[Any] = field(default_factory=VerifiedTokens)
    sessions: ResolvedSessions = field(default_factory=ResolvedSessions)
    pam_secrets: FetchedSecrets = field(default_factory=lambda: FetchedSecrets(0))
    adapters: dict[str, Memory] = field(default_factory=dict)
    """The memories adapters hold themselves (the token cache, the TLS contexts)."""

    def all(self) -> dict[str, Memory]:
        return {"profile": self.profile, "options": self.options,
                "client certificate": self.client_certificate,
                "snapshots": self.snapshots, "passwords": self.passwords,
                "bearer_tokens": self.bearer_tokens, "sessions": self.sessions,
                "pam secrets": self.pam_secrets,
                **self.adapters}

    def stats(self) -> dict[str, MemoryStats]:
        return {name: memory.stats for name, memory in self.all().items()}

    def clear(self) -> None:
        for memory in self.all().values():
            memory.clear()
