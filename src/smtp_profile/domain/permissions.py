"""Permissions, named the way Keyfactor Command 11+ names them.

Keyfactor's own pages print the modify permission both as `/system_settings/modify/` and
`/system_setting/modify/`; both spellings are accepted and stored in the plural form.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Permission(StrEnum):
    READ = "/system_settings/read/"
    MODIFY = "/system_settings/modify/"


_ALIASES = {
    "/system_settings/read/": Permission.READ,
    "/system_setting/read/": Permission.READ,
    "/system_settings/modify/": Permission.MODIFY,
    "/system_setting/modify/": Permission.MODIFY,
}

ALL_PERMISSIONS = frozenset(Permission)


def parse_permission(text: str) -> Permission:
    """The permission a user typed, in either spelling, with or without slashes."""
    key = "/" + text.strip().strip("/").lower() + "/"
    try:
        return _ALIASES[key]
    except KeyError:
        known = ", ".join(p.value for p in Permission)
        raise ValueError(f"unknown permission {text!r}; known: {known}") from None


def parse_permissions(texts: Iterable[str]) -> frozenset[Permission]:
    return frozenset(parse_permission(t) for t in texts)
