"""What the big mail providers answer and what it means: the provider catalogue's rules.

The catalogue itself is data (`mailer/catalogue/provider_replies.json`, versioned, shipped
with the package so a test explains a reply without internet access); this module reads
its parsed form and matches observations against it: an SMTP reply at a step, an identity
provider's error at the token step, a relay or token endpoint host. Pure: the caller hands
in the parsed JSON.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from smtp_profile.domain.host_patterns import Wildcard, host_matches
from smtp_profile.domain.steps import StepName

MICROSOFT = "microsoft"
GOOGLE = "google"

_ENHANCED = re.compile(r"(?<![\d.])([245]\.\d{1,3}\.\d{1,3})(?![\d.])")


class CatalogueError(ValueError):
    """The catalogue file does not have the shape this release reads."""


@dataclass(frozen=True)
class Provider:
    key: str
    name: str
    relay_hosts: tuple[str, ...]
    token_hosts: tuple[str, ...]
    link: str | None = None
    smtp_audiences: tuple[str, ...] = ()
    graph_audiences: tuple[str, ...] = ()
    smtp_app_role: str | None = None
    smtp_delegated_scope: str | None = None
    graph_roles: tuple[str, ...] = ()
    scope: str | None = None
    send_as_checked_after_data: bool = False

    def serves_relay(self, host: str) -> bool:
        return _any_host(self.relay_hosts, host)

    def issues_tokens_at(self, host: str) -> bool:
        return _any_host(self.token_hosts, host)


@dataclass(frozen=True)
class ReplyEntry:
    """One known reply or error: where it happens, how to recognise it, what to do."""

    id: str
    provider: str
    steps: tuple[StepName, ...]
    meaning: str
    hint: str
    link: str | None = None
    code: int | None = None
    enhanced: str | None = None
    contains: str | None = None
    mechanism: str | None = None
    error: str | None = None
    """An RFC 6749 `error` code, matched only when the provider is known (it is generic)."""
    error_contains: str | None = None
    """Text in the identity provider's error or description (AADSTS codes)."""

    @property
    def full_hint(self) -> str:
        return f"{self.hint} See {self.link}" if self.link else self.hint

    def matches_reply(self, step: StepName, code: int, text: str, *,
                      mechanism: str | None) -> bool:
        if step not in self.steps or self.error is not None or self.error_contains:
            return False
        if self.code is not None and code != self.code:
            return False
        if self.enhanced is not None and self.enhanced not in _ENHANCED.findall(text):
            return False
        if self.contains is not None and self.contains.lower() not in text.lower():
            return False
        if self.mechanism is not None and (mechanism or "").upper() != self.mechanism:
            return False
        return self.code is not None or self.enhanced is not None or self.contains is not None

    def matches_token_error(self, error: str | None, description: str | None, *,
                            providers: frozenset[str]) -> bool:
        if StepName.TOKEN not in self.steps:
            return False
        if self.error_contains is not None:
            text = f"{error or ''} {description or ''}".lower()
            return self.error_contains.lower() in text
        if self.error is not None:
            return error == self.error and self.provider in providers
        return False


@dataclass(frozen=True)
class Deadline:
    """A provider's announced end of an authentication type, with its dates."""

    code: str
    provider: str
    auth_type: int
    available_until: date
    final_removal_announced_from: date | None
    source: str
    link: str | None
    before: str
    after: str


@dataclass(frozen=True)
class Catalogue:
    version: str
    providers: Mapping[str, Provider]
    replies: tuple[ReplyEntry, ...]
    deadlines: tuple[Deadline, ...] = field(default=())

    def relay_provider(self, host: str | None) -> Provider | None:
        name = _host(host)
        return next((p for p in self.providers.values() if name and p.serves_relay(name)),
                    None)

    def token_provider(self, host: str | None) -> Provider | None:
        name = _host(host)
        return next((p for p in self.providers.values()
                     if name and p.issues_tokens_at(name)), None)

    def reply(self, step: StepName, code: int, text: str, *,
              mechanism: str | None = None) -> ReplyEntry | None:
        """The entry explaining this SMTP reply at this step, if the catalogue knows it."""
        return next((e for e in self.replies
                     if e.matches_reply(step, code, text, mechanism=mechanism)), None)

    def token_error(self, error: str | None, description: str | None, *,
                    relay_host: str | None = None,
                    token_host: str | None = None) -> ReplyEntry | None:
        """The entry explaining an identity provider's refusal; a bare RFC 6749 code only
        when the relay or the token endpoint tells which provider answered."""
        known = frozenset(p.key for p in (self.relay_provider(relay_host),
                                          self.token_provider(token_host)) if p)
        return next((e for e in self.replies
                     if e.matches_token_error(error, description, providers=known)), None)

    def entry(self, entry_id: str) -> ReplyEntry:
        return next(e for e in self.replies if e.id == entry_id)


def parse_catalogue(data: Mapping[str, Any]) -> Catalogue:
    """The catalogue from its JSON form; raises CatalogueError on a shape it cannot read."""
    try:
        version = data["version"]
        if not isinstance(version, str) or not version:
            raise CatalogueError("the catalogue has no version")
        providers = {key: _provider(key, value)
                     for key, value in dict(data["providers"]).items()}
        replies = tuple(_reply(value) for value in data["replies"])
        deadlines = tuple(_deadline(value) for value in data.get("deadlines", ()))
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, CatalogueError):
            raise
        raise CatalogueError(f"the provider catalogue cannot be read: {exc!r}") from None
    ids = [r.id for r in replies]
    if len(set(ids)) != len(ids):
        raise CatalogueError("the provider catalogue repeats an entry id")
    for reply in replies:
        if reply.provider not in providers:
            raise CatalogueError(f"entry {reply.id!r} names an unknown provider")
    return Catalogue(version, providers, replies, deadlines)


def _provider(key: str, value: Mapping[str, Any]) -> Provider:
    return Provider(
        key=key, name=str(value["name"]),
        relay_hosts=_strings(value.get("relay_hosts", ())),
        token_hosts=_strings(value.get("token_hosts", ())),
        link=value.get("link"),
        smtp_audiences=_strings(value.get("smtp_audiences", ())),
        graph_audiences=_strings(value.get("graph_audiences", ())),
        smtp_app_role=value.get("smtp_app_role"),
        smtp_delegated_scope=value.get("smtp_delegated_scope"),
        graph_roles=tuple(str(v) for v in value.get("graph_roles", ())),
        scope=value.get("scope"),
        send_as_checked_after_data=bool(value.get("send_as_checked_after_data", False)),
    )


def _reply(value: Mapping[str, Any]) -> ReplyEntry:
    code = value.get("code")
    if code is not None and not isinstance(code, int):
        raise CatalogueError(f"entry {value.get('id')!r}: code must be a number")
    return ReplyEntry(
        id=str(value["id"]), provider=str(value["provider"]),
        steps=tuple(StepName(step) for step in value["steps"]),
        meaning=str(value["meaning"]), hint=str(value["hint"]), link=value.get("link"),
        code=code, enhanced=value.get("enhanced"), contains=value.get("contains"),
        mechanism=value.get("mechanism"), error=value.get("error"),
        error_contains=value.get("error_contains"),
    )


def _deadline(value: Mapping[str, Any]) -> Deadline:
    removal = value.get("final_removal_announced_from")
    return Deadline(
        code=str(value["code"]), provider=str(value["provider"]),
        auth_type=int(value["auth_type"]),
        available_until=date.fromisoformat(value["available_until"]),
        final_removal_announced_from=date.fromisoformat(removal) if removal else None,
        source=str(value["source"]), link=value.get("link"),
        before=str(value["before"]), after=str(value["after"]),
    )


def _strings(values: Iterable[Any]) -> tuple[str, ...]:
    return tuple(str(v).lower() for v in values)


def _host(host: str | None) -> str:
    return (host or "").strip().lower().rstrip(".")


def _any_host(patterns: Iterable[str], host: str) -> bool:
    return any(host_matches(p, host, wildcard=Wildcard.SUBDOMAINS) for p in patterns)
