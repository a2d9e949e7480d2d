"""Secrets: values that must never be printed, logged or echoed.

A `Secret` hides its value from `repr`, `str` and f-strings, so an accidental log line or
exception message shows `***`; code that really needs the value calls `reveal()`, which is
easy to grep for. Equality is constant-time.
"""

from __future__ import annotations

import hmac
from typing import Final

REDACTED: Final = "***"


class Secret:
    """A password, client secret or token; `reveal()` is the only way to the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({REDACTED})"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return REDACTED

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self.reveal().encode("utf-8"),
                                   other.reveal().encode("utf-8"))

    def __hash__(self) -> int:
        return hash(Secret)

    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError("a Secret cannot be pickled")


def check_opens(*secrets: Secret | None) -> None:
    """Reveal each secret once. A stored secret is opened at its first reveal, and one
    that does not open raises its DomainError here, before a connection is made, rather
    than in the middle of a conversation with a relay."""
    for secret in secrets:
        if secret is not None:
            secret.reveal()
