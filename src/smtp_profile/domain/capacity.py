"""A bound on work that holds outside resources: concurrent tests on one instance.

Each Test or Diagnose holds a socket, an SMTP client, TLS state and, for OAuth relays, an
HTTP client for the token request, for up to its whole timeout. The per-user rate limit
can be switched off and does not bound work across users, so the instance keeps its own
count: a test that finds every slot taken is refused at once (the caller answers 503
with `Retry-After`) instead of queueing, which would only move the pile-up elsewhere.

Pure logic: time comes in as `now` (a monotonic clock); the caller runs the test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(eq=False)
class Slot:
    """One running test's claim; `release()` gives it back (any number of times)."""

    capacity: Capacity
    started: float
    released: bool = False

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.capacity.running.discard(self)


@dataclass
class Capacity:
    """At most `limit` slots at once; a slot is expected back within `longest` seconds
    (the longest a test can run), which is what `retry_after` promises from."""

    limit: int
    longest: float
    running: set[Slot] = field(default_factory=set)

    def acquire(self, now: float) -> Slot | None:
        """A slot, or None when all `limit` are taken."""
        if len(self.running) >= self.limit:
            return None
        slot = Slot(self, now)
        self.running.add(slot)
        return slot

    def retry_after(self, now: float) -> int:
        """Whole seconds until the oldest running test must have ended (at least 1)."""
        if not self.running:
            return 1
        oldest = min(slot.started for slot in self.running)
        return max(1, min(math.ceil(self.longest), math.ceil(oldest + self.longest - now)))
