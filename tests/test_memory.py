"""The process's memories of the stored state (usecases/memory.py): each one's
invalidation rule, its bound, its counters, and that a running service's GET is
answered from them (the counters move), not merely answered."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import trustme
from cachetools import FIFOCache

from smtp_profile.domain.permissions import Permission
from smtp_profile.domain.profile import Profile
from smtp_profile.domain.relay_options import RelayOptions
from smtp_profile.domain.secrets import Secret
from smtp_profile.domain.stored import ProfileStamp, SessionRecord, StoredProfile
from smtp_profile.mailer.tls import TrustStore
from smtp_profile.oauth.cache import TokenCache
from smtp_profile.usecases.memory import (
    Bounded,
    CommitGuarded,
    LatestByStamp,
    MemoryStats,
    RecognisedHeaders,
    ResolvedSessions,
    StateMemory,
    VerifiedPasswords,
    VerifiedTokens,
    keyed_digest,
)
from tests.support.service import RunningService

API = "/KeyfactorAPI/SMTP"
PROFILE = {"Host": "relay.corp.local", "Port": 587, "RelayAuthenticationType": 2,
           "RelayUsername": "svc", "RelayPassword": "relay-pw-1", "UseSSL": True,
           "SenderAccount": "pki@corp.local", "SenderName": "PKI"}


def stored(version: int, generation: str) -> StoredProfile:
    return StoredProfile(Profile(), version, None, None, generation)


def test_a_profile_is_remembered_for_exactly_its_stamp() -> None:
    memory: LatestByStamp[ProfileStamp, StoredProfile] = LatestByStamp()
    first = stored(1, "a")
    memory.put(first.stamp, first)
    assert memory.get(ProfileStamp(1, "a")) is first
    # The same version with another generation (a restored backup) is another profile.
    assert memory.get(ProfileStamp(1, "b")) is None
    second = stored(2, "c")
    memory.put(second.stamp, second)
    assert memory.get(first.stamp) is None
    assert memory.stats == MemoryStats(hits=1, misses=2, invalidations=1)


def test_options_saved_here_are_forgotten_until_read_again() -> None:
    memory: LatestByStamp[datetime | None, str] = LatestByStamp()
    memory.put(None, "never saved")  # None is a stamp too: options never saved
    assert memory.get(None) == "never saved"
    memory.forget()
    assert memory.get(None) is None
    assert memory.stats.invalidations == 1


def test_snapshots_hold_while_the_commit_counter_stands_still() -> None:
    memory: CommitGuarded[str, int] = CommitGuarded(maxsize=2)
    assert memory.get("alice", 7) is None  # the first look: nothing yet
    memory.put("alice", 1, looked_at=7)
    memory.put("bob", 2, looked_at=7)
    assert memory.get("alice", 7) == 1
    memory.put("carol", 3, looked_at=7)  # beyond the bound: bob, least recently used, goes
    assert memory.get("bob", 7) is None
    assert memory.get("alice", 7) == 1
    assert memory.get("alice", 8) is None  # a commit: everything goes
    assert memory.get("carol", 8) is None
    assert memory.stats.invalidations == 1


def test_a_read_that_raced_a_commit_is_not_kept() -> None:
    memory: CommitGuarded[str, int] = CommitGuarded()
    memory.get("alice", 7)
    looked_at = memory.seen
    memory.get("bob", 8)  # another request saw the counter move while alice's read ran
    memory.put("alice", 1, looked_at=looked_at)
    assert memory.get("alice", 8) is None
    memory.get("alice", None)  # an unreadable counter: nothing is trusted, nothing kept
    memory.put("alice", 1, looked_at=memory.seen)
    assert memory.get("alice", None) is None


def test_a_resolved_session_holds_while_nothing_commits_until_its_end_keyed_by_a_mac() -> None:
    signed_in = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    ends = signed_in + timedelta(minutes=30)
    record = SessionRecord("rita", frozenset({Permission.READ}), signed_in, ends)
    token_hash = "ab" * 32
    memory = ResolvedSessions(maxsize=2)
    assert memory.get(token_hash, 7, signed_in) is None  # the first look
    memory.put(token_hash, record, looked_at=memory.seen)
    assert memory.get(token_hash, 7, ends - timedelta(seconds=1)) == record
    assert memory.get(token_hash, 7, ends) is None  # its stored end: gone ...
    assert memory.get(token_hash, 7, signed_in) is None  # ... and stays gone
    memory.put(token_hash, record, looked_at=7)
    assert memory.get(token_hash, 8, signed_in) is None  # a commit anywhere: gone
    memory.put(token_hash, record, looked_at=8)
    looked_at = memory.seen
    memory.invalidate()  # a sign-out here: gone, and a read in flight is not kept
    memory.put(token_hash, record, looked_at=looked_at)
    assert memory.get(token_hash, 8, signed_in) is None
    assert memory.stats == MemoryStats(hits=1, misses=5, invalidations=3)
    memory.put(token_hash, record, looked_at=memory.seen)
    state = repr(vars(memory)) + repr(list(vars(memory)["_copies"]._copies))
    assert token_hash not in state and token_hash.encode() not in list(
        vars(memory)["_copies"]._copies)


def test_verified_passwords_hold_no_secret_and_follow_the_stored_hash() -> None:
    memory = VerifiedPasswords(maxsize=1)
    memory.keep("$argon2id$hash-1", Secret("password-1"))
    assert memory.knows("$argon2id$hash-1", Secret("password-1"))
    assert not memory.knows("$argon2id$hash-2", Secret("password-1"))  # a changed password
    assert not memory.knows("$argon2id$hash-1", Secret("password-2"))
    state = repr(vars(memory)) + repr(list(vars(memory)["_verified"]))
    assert "password-1" not in state and "hash-1" not in state
    memory.keep("$argon2id$hash-2", Secret("password-1"))  # beyond the bound
    assert not memory.knows("$argon2id$hash-1", Secret("password-1"))
    assert memory.stats.hits == 1


def test_the_token_cache_counts_like_the_others() -> None:
    now = [0.0]
    tokens = TokenCache(clock=lambda: now[0])
    key = tokens.key(["endpoint", "client"])
    assert tokens.get(key) is None
    tokens.put(key, Secret("token"), 3600)
    assert tokens.get(key) is not None
    now[0] = 3600.0
    assert tokens.get(key) is None  # expired: dropped
    assert tokens.stats == MemoryStats(hits=1, misses=2, invalidations=1)


def test_a_tls_context_is_built_once_per_bundle(ca: trustme.CA) -> None:
    trust = TrustStore(None)
    options = RelayOptions(ca_pem=ca.cert_pem.bytes().decode())
    assert trust.context_for(options) is trust.context_for(options)
    assert trust.contexts.stats == MemoryStats(hits=1, misses=1)
    bounded: Bounded[str, int] = Bounded(FIFOCache(1))
    bounded.put("a", 1)
    bounded.put("b", 2)
    assert (bounded.get("a"), bounded.get("b")) == (None, 2)


def test_one_owner_lists_every_memory() -> None:
    memory = StateMemory(adapters={"tokens": TokenCache()})
    assert set(memory.stats()) == {"profile", "options", "client certificate", "snapshots",
                                   "passwords", "bearer_tokens", "sessions", "pam secrets",
                                   "tokens"}
    memory.passwords.keep("hash", Secret("password"))
    memory.bearer_tokens.put("a.token", "caller", expires_at=2e9)
    assert memory.bearer_tokens.get("a.token", now=1e9) == "caller"
    memory.clear()
    assert not memory.passwords.knows("hash", Secret("password"))
    assert memory.bearer_tokens.get("a.token", now=1e9) is None


def test_a_verified_token_is_kept_until_its_expiry_and_never_in_clear() -> None:
    tokens: VerifiedTokens[str] = VerifiedTokens(maxsize=2)
    tokens.put("header.payload.signature", "alice", expires_at=100.0)
    assert tokens.get("header.payload.signature", now=99.9) == "alice"
    assert tokens.get("header.payload.signature", now=100.0) is None  # expired: gone
    assert tokens.get("header.payload.signature", now=50.0) is None   # and stays gone
    tokens.put("header.payload.signature", "alice", expires_at=100.0)
    assert "header.payload.signature" not in repr(vars(tokens))
    assert b"header.payload.signature" not in repr(vars(tokens)).encode()
    for n in range(3):  # bounded: the least recently used goes first
        tokens.put(f"t{n}", "x", expires_at=100.0)
    assert tokens.get("header.payload.signature", now=1.0) is None


def test_a_get_is_answered_from_memory(service: RunningService,
                                       database_url: str | None) -> None:
    stats = service.runtime.memory.stats()
    assert {"tokens", "tls contexts", "answers_v1", "answers_v2"} <= set(stats)
    with service.client() as client:
        assert client.put(API, json=PROFILE).status_code == 200
        assert client.get(API).status_code == 200
        before = {name: MemoryStats(**vars(s)) for name, s in stats.items()}
        for _ in range(3):
            assert client.get(API).status_code == 200
        # The Basic header was recognised as before: neither decoded nor its password
        # looked up again, while the snapshot it was recognised on stands.
        assert stats["recognised_logins"].hits - before["recognised_logins"].hits == 3
        assert stats["passwords"].hits == before["passwords"].hits
        assert stats["profile"].hits - before["profile"].hits >= 3
        answered = sum(stats[f"answers_v{v}"].hits - before[f"answers_v{v}"].hits
                       for v in (1, 2))
        assert answered == 3  # the fast path's bytes, kept for the profile's stamp
        # The commit counter stood still (SQLite's data_version, PostgreSQL's change feed).
        assert stats["snapshots"].hits - before["snapshots"].hits >= 3
        # A write replaces the remembered profile (an invalidation); the next GET is
        # answered from the new one, which the write left in memory.
        invalidations = stats["profile"].invalidations
        assert client.put(API, json={**PROFILE, "Port": 25}).status_code == 200
        assert stats["profile"].invalidations == invalidations + 1
        hits = stats["profile"].hits
        assert client.get(API).json()["Port"] == 25
        assert stats["profile"].hits == hits + 1


def test_a_put_takes_the_relay_options_from_memory(service: RunningService) -> None:
    """The options a PUT binds a new password to are the ones its snapshot names: read
    once, then from memory until a save changes their stamp."""
    stats = service.runtime.memory.stats()["options"]
    with service.client() as client:
        assert client.put(API, json=PROFILE).status_code == 200
        hits, misses = stats.hits, stats.misses
        for port in (25, 587):
            assert client.put(API, json={**PROFILE, "Port": port}).status_code == 200
        assert (stats.hits, stats.misses) == (hits + 2, misses)
        options = client.get(f"{API}/Options")
        assert client.put(f"{API}/Options", json={"Insecure": True},
                          headers={"If-Match": options.headers["etag"]}).status_code == 200
        assert client.put(API, json=PROFILE).status_code == 200  # a new stamp: read again
        assert stats.misses == misses + 1


def test_memories_key_credentials_by_a_mac_of_their_own_key() -> None:
    key, other = bytes(32), bytes([1]) * 32
    digest = keyed_digest(key, b"bench-password-1")
    assert len(digest) == 32 and b"bench-password-1" not in digest
    assert keyed_digest(key, b"bench-password-1") == digest
    assert keyed_digest(other, b"bench-password-1") != digest  # another process's key
    assert keyed_digest(key, b"bench-password-2") != digest


def test_recognised_headers_are_kept_per_address_under_a_mac_only() -> None:
    header = b"Basic " + base64.b64encode(b"rita:rita-password-1")
    memory: RecognisedHeaders[str] = RecognisedHeaders(maxsize=1)
    assert memory.get(header, "10.0.0.1") is None
    memory.put(header, "10.0.0.1", "rita")
    assert memory.get(header, "10.0.0.1") == "rita"
    assert memory.get(header, "10.0.0.2") is None  # the same header from elsewhere
    assert memory.get(header + b"x", "10.0.0.1") is None
    state = repr(vars(memory)) + repr(list(vars(memory)["_copies"]))
    assert header.decode() not in state and b"rita-password-1" not in state.encode()
    memory.drop(header, "10.0.0.1")  # what it was recognised as no longer holds
    assert memory.get(header, "10.0.0.1") is None
    memory.put(header, "10.0.0.1", "rita")
    memory.put(header, "10.0.0.2", "rita")  # beyond the bound: the oldest goes
    assert memory.get(header, "10.0.0.1") is None
    assert memory.stats == MemoryStats(hits=1, misses=5, invalidations=1)
