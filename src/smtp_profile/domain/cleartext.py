"""Whether credentials may cross a connection that is not encrypted.

Keyfactor's API lets a Basic relay (RelayAuthenticationType 2) be used with UseSSL off,
and some internal relays take AUTH in clear text. The operator decides how far that
goes (`SMTP_PROFILE_CLEARTEXT_CREDENTIALS`): `allow` sends them anywhere (as Keyfactor
Command does), `loopback` only to a relay on this machine, where nothing crosses a
network, and `never` nowhere. OAuth (XOAUTH2) is TLS-only whatever this says.
"""

from __future__ import annotations

import ipaddress
from enum import StrEnum

SETTING = "SMTP_PROFILE_CLEARTEXT_CREDENTIALS"


class CleartextCredentials(StrEnum):
    ALLOW = "allow"
    LOOPBACK = "loopback"
    NEVER = "never"


def cleartext_refusal(policy: CleartextCredentials, address: str) -> str | None:
    """Why credentials may not go in clear text to `address` (the IP connected to);
    None when they may."""
    if policy is CleartextCredentials.ALLOW:
        return None
    if policy is CleartextCredentials.LOOPBACK and _is_loopback(address):
        return None
    where = ("to any relay" if policy is CleartextCredentials.NEVER
             else "to a relay other than this machine (loopback)")
    return (f"the credentials were not sent: the connection to {address} is not "
            f"encrypted, and the operator's setting {SETTING}={policy.value} refuses "
            f"credentials without TLS {where}")


def _is_loopback(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return bool(ip.is_loopback or (mapped is not None and mapped.is_loopback))
