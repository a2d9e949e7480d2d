"""Who asks for a use case and from where: what the audit trail and the logs name."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    """An authenticated user (or an operator's command) and the client address it used."""

    name: str
    client: str | None = None

    def __str__(self) -> str:
        return self.name if self.client is None else f"{self.name} ({self.client})"
