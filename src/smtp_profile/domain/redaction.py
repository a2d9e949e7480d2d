"""One redaction for every text a test lets out: replies, transcript, hints, details.

A relay or an identity provider may echo what it was sent (the AUTH argument in a 535
reply, the client secret in an error_description). Such text reaches the Test answer,
the Diagnose report, GET /SMTP/Status, the audit trail and the database, so it passes
through a `Redactor` that knows every secret in play and the forms it travels in:

- as is, in any case, and split by whitespace (a reply wrapped over lines);
- URL-encoded (form bodies, query strings);
- base64 alone, and base64 inside any SASL blob (PLAIN `\\0user\\0password`, LOGIN's
  pieces, XOAUTH2 `user=...^Aauth=Bearer <token>^A^A`): the characters that encode the
  secret's bytes at each of the three byte alignments are the same whatever surrounds
  them, so they are matched wherever the secret sits in a blob. Whole blobs are matched
  too, for secrets too short for that.

Pure: no I/O; the secrets are kept only inside the compiled pattern's source.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from smtp_profile.domain.profile import Profile
from smtp_profile.domain.secrets import REDACTED, Secret

# Alignment cores shorter than this could match ordinary text; whole forms are always used.
_MIN_CORE = 6
# RFC 3463 enhanced status code at the start of a reply text, e.g. "5.7.8".
_ENHANCED_STATUS = re.compile(r"^\s*([245]\.\d{1,3}\.\d{1,3})(?!\S)")


def enhanced_status(text: str | None) -> str | None:
    """The RFC 3463 enhanced status code a reply text starts with, if any."""
    match = _ENHANCED_STATUS.match(text or "")
    return match.group(1) if match else None


def _b64_forms(raw: bytes) -> set[str]:
    """base64 (standard and URL-safe) of `raw`, whole and as it appears inside a blob."""
    forms = {base64.b64encode(raw).decode("ascii")}
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode("ascii")
        first = -(-8 * offset // 6)  # the first character made only of `raw`'s bits
        last = 8 * (offset + len(raw)) // 6  # one past the last such character
        core = encoded[first:last]
        if len(core) >= _MIN_CORE:
            forms.add(core)
    return forms  # the URL-safe alphabet is matched by `_char`


def secret_forms(secret: str, users: Iterable[str] = ()) -> set[str]:
    """Every form of `secret` the redaction matches (before case and whitespace folding)."""
    if not secret:
        return set()
    raw = secret.encode("utf-8")
    forms = {secret}
    forms |= _b64_forms(raw)
    for user in {u for u in users if u}:
        name = user.encode("utf-8")
        for blob in (b"\0" + name + b"\0" + raw, name + b"\0" + name + b"\0" + raw,
                     b"user=" + name + b"\x01auth=Bearer " + raw + b"\x01\x01"):
            forms.add(base64.b64encode(blob).decode("ascii"))
    return {form for form in forms if form}


_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_BASE64_TWINS = {"+": "-", "/": "_", "-": "+", "_": "/"}


def _char(ch: str) -> str:
    """One character of a form as it may be spelled: itself, percent-encoded (where URL
    encoding would encode it), the other base64 alphabet's twin; whitespace optional."""
    if ch.isspace():
        return r"(?:%20|%09|\+)?"
    if ch in _UNRESERVED and ch not in _BASE64_TWINS:
        return re.escape(ch)
    spellings = [re.escape(ch), "".join(f"%{byte:02X}" for byte in ch.encode("utf-8"))]
    if ch in _BASE64_TWINS:
        twin = _BASE64_TWINS[ch]
        spellings.append(re.escape(twin))
        if twin not in _UNRESERVED:
            spellings.append(f"%{ord(twin):02X}")
    return "(?:" + "|".join(spellings) + ")"


def _pattern(form: str) -> str:
    """`form` as it may be spelled, with any whitespace between its characters."""
    return r"\s*".join(_char(ch) for ch in form)


@dataclass(frozen=True, repr=False, eq=False)
class Redactor:
    """Replaces every known form of the secrets in play with `***`."""

    _secrets: tuple[str, ...] = ()
    _users: tuple[str, ...] = ()
    _compiled: re.Pattern[str] | None = None

    @classmethod
    def of(cls, secrets: Iterable[Secret | None], users: Iterable[str | None] = ()
           ) -> Redactor:
        """A redactor for `secrets`; `users` are the names SASL blobs pair them with."""
        values = tuple(dict.fromkeys(s.reveal() for s in secrets if s is not None
                                     and s.reveal().strip()))
        names = tuple(dict.fromkeys(u for u in users if u))
        forms: set[str] = set()
        for value in values:
            forms |= secret_forms(value, names)
        alternatives = sorted({_pattern(f) for f in forms if _pattern(f)},
                              key=len, reverse=True)
        compiled = (re.compile("|".join(alternatives), re.IGNORECASE)
                    if alternatives else None)
        return cls(values, names, compiled)

    def with_secret(self, secret: Secret) -> Redactor:
        """This redactor plus one more secret (an access token obtained mid-test)."""
        return Redactor.of([*(Secret(s) for s in self._secrets), secret], self._users)

    def __repr__(self) -> str:
        return f"Redactor({len(self._secrets)} secrets)"

    def text(self, value: str) -> str:
        if self._compiled is None or not value:
            return value
        return self._compiled.sub(REDACTED, value)

    def optional(self, value: str | None) -> str | None:
        return None if value is None else self.text(value)

    def value(self, value: object) -> object:
        """Strings anywhere inside lists, tuples and dicts (keys too), redacted."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {self.value(k): self.value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(item) for item in value]
        return value

    def details(self, details: Mapping[str, object]) -> dict[str, object]:
        return {self.text(k): self.value(v) for k, v in details.items()}


def profile_redactor(profile: Profile) -> Redactor:
    """The redactor of a test of `profile`: its password and client secret, paired in SASL
    blobs with the names it authenticates as (the access token is added once obtained).
    A service account's private key is not among them: it never leaves the service, so
    nothing can echo it (the token client redacts the assertions it signs)."""
    return Redactor.of([profile.password, profile.client_secret],
                       [profile.username, profile.sasl_user])
