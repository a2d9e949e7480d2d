"""The stored state as the use cases and the store exchange it: plain values, no database.

Each value carries what names one stored version of it (a profile's version and
random generation, the options' version and save time), because the HTTP layer derives
its ETags from them and the in-memory copies (`usecases/memory.py`) are keyed by them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from smtp_profile.domain.permissions import Permission
from smtp_profile.domain.profile import Profile
from smtp_profile.domain.relay_options import RelayOptions
from smtp_profile.domain.throttle import Counted


@dataclass(frozen=True)
class ProfileStamp:
    """What names one stored profile: its version, and the random generation written
    with it. The version alone does not: a database restored from a backup counts up
    again through version numbers already seen with other contents."""

    version: int
    generation: str


@dataclass(frozen=True)
class StoredProfile:
    """A profile as stored, with the version and generation that change on every write."""

    profile: Profile
    version: int
    updated_at: datetime | None
    updated_by: str | None
    generation: str = ""

    @cached_property
    def stamp(self) -> ProfileStamp:
        """Made once: the fast GET path asks for it on every answer."""
        return ProfileStamp(self.version, self.generation)


@dataclass(frozen=True)
class StoredOptions:
    """The relay options as stored, with the version that changes on every write."""

    options: RelayOptions
    version: int
    updated_at: datetime | None = None
    """As the database returns it (naive on SQLite): the snapshot's options stamp."""
    updated_by: str | None = None


@dataclass(frozen=True)
class UserRecord:
    name: str
    password_hash: str
    permissions: frozenset[Permission]
    created_at: datetime


@dataclass(frozen=True)
class SessionRecord:
    """A live web session and its user's current permissions (never the token)."""

    user_name: str
    permissions: frozenset[Permission]
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class Snapshot:
    """Everything a request must know before it may be answered, read at one moment."""

    profile_version: int
    user: UserRecord | None
    counters: Mapping[str, Counted] = field(default_factory=dict)
    """The sign-in counters of this user and address (per user and address, per
    address, per user), those that exist."""
    known_address: bool = False
    """The user signed in from this address before."""
    options_stamp: datetime | None = None
    """When the relay options were last saved (None: never)."""
    profile_generation: str = ""
    client_certificate_version: int | None = None
    """The relay client certificate's version (every save or removal moves it)."""

    @cached_property
    def profile_stamp(self) -> ProfileStamp:
        """Made once: a remembered snapshot is asked for it on every GET."""
        return ProfileStamp(self.profile_version, self.profile_generation)
