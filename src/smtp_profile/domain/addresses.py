"""Syntax checks for host names and mailboxes: syntax, not policy.

The relay decides which senders and domains exist; we only refuse what cannot be an
address at all or could inject protocol lines (CR, LF, NUL). Enterprise names such as
`corp.local`, `.internal` or bare `localhost` are valid here on purpose (spec section 12).
"""

from __future__ import annotations

import base64
import binascii
import codecs
import ipaddress
import quopri
import re
import unicodedata

import idna

MAX_HOST_LENGTH = 253
MAX_LABEL_LENGTH = 63
MAX_LOCAL_PART = 64
MAX_DOMAIN = 255
MAX_ADDRESS = 320

_LDH_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
# RFC 5322 atext plus "." for dot-atoms; anything >= U+0080 is allowed too (RFC 6531).
_ATEXT = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\U0010ffff-]+$")
# An RFC 2047 encoded-word as lenient readers (Python's email package among them) find it:
# anywhere in a header, quoted or not, with any charset and an optional *language, and
# even unterminated: Python decodes `=?utf-8?q?=0D=0A...` through to the end of the field.
_ENCODED_WORD = re.compile(r"=\?([^?]*)\?([bBqQ])\?(.*?)(?:\?=|\Z)", re.DOTALL)


class AddressError(ValueError):
    """Why a host or mailbox was refused, in words a user can act on."""


def is_unsafe_char(ch: str) -> bool:
    """C0/C1 controls and DEL (they end protocol lines and headers), Unicode line and
    paragraph separators, and invisible format characters (zero-width and bidi controls,
    used to make one name look like another)."""
    code = ord(ch)
    if code < 0x20 or 0x7F <= code < 0xA0:
        return True
    return code > 0x7F and unicodedata.category(ch) in ("Cf", "Zl", "Zp")


def has_control_chars(text: str) -> bool:
    return any(is_unsafe_char(ch) for ch in text)


def has_encoded_word(text: str) -> bool:
    """True if `text` holds what a mail reader may decode as an RFC 2047 word: the start
    `=?charset?b?` or `=?charset?q?` is enough, as some readers need no `?=`."""
    return _ENCODED_WORD.search(text) is not None


def decoded_encoded_words(text: str) -> list[str]:
    """What each RFC 2047 encoded-word in `text` decodes to, as leniently as any reader.

    Base64 is decoded ignoring stray characters and bad padding, Q ignoring bad escapes,
    and the bytes are read in the declared charset (UTF-8 if unknown): if any reader
    could get a control character out of a word, one of these strings holds it. Bytes
    that are ASCII control characters are reported as such even when the charset
    (UTF-16, UTF-32) would pair them up.
    """
    words: list[str] = []
    for match in _ENCODED_WORD.finditer(text):
        charset, encoding, payload = match.groups()
        raw = _decode_payload(encoding.lower(), payload)
        try:
            decoded = raw.decode(_codec(charset), errors="replace")
        except LookupError:  # a codec that is not a text encoding (rot13, base64, ...)
            decoded = raw.decode("utf-8", errors="replace")
        controls = "".join(chr(b) for b in raw if b < 0x20 or b == 0x7F)
        words.append(decoded + controls)
    return words


def _decode_payload(encoding: str, payload: str) -> bytes:
    if encoding == "q":
        return quopri.decodestring(payload.encode("utf-8", "surrogatepass"), header=True)
    data = re.sub(r"[^A-Za-z0-9+/]", "", payload)
    if len(data) % 4 == 1:
        data = data[:-1]
    try:
        return base64.b64decode(data + "=" * (-len(data) % 4))
    except binascii.Error:  # pragma: no cover - the cleaned text is always decodable
        return b""


def _codec(charset: str) -> str:
    name = charset.partition("*")[0].strip() or "utf-8"
    try:
        return codecs.lookup(name).name
    except LookupError:
        return "utf-8"


def check_display_name(text: str) -> None:
    """Refuse a name holding an RFC 2047 encoded-word that decodes to a control character.

    The name itself is always sent as literal text (the message encodes it anew), but a
    word like `=?utf-8?b?...?=` hiding CR LF has no honest use: it was written to inject
    header lines into a mailer that decodes it, and the profile is read by other mailers.
    """
    for decoded in decoded_encoded_words(text):
        if has_control_chars(decoded):
            raise AddressError(
                "holds an RFC 2047 encoded-word (=?charset?encoding?text?=) that decodes to "
                "a line break or other control character")


def ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address if `host` is an IP literal (IPv6 optionally in brackets), else None."""
    candidate = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return ipaddress.ip_address(candidate)
    except ValueError:
        return None


def ascii_host(host: str) -> str:
    """The form to put on the wire and to compare: IP literal or IDNA A-labels, lower case.

    Raises AddressError when `host` is neither a valid IP literal nor a valid DNS name.
    """
    if not host:
        raise AddressError("must not be empty")
    if has_control_chars(host) or any(ch.isspace() for ch in host):
        raise AddressError("must not contain spaces or control characters")
    address = ip_literal(host)
    if address is not None:
        return address.compressed
    if host.startswith("["):
        raise AddressError("is not a valid IP address literal")
    name = host[:-1] if host.endswith(".") else host
    if not name.isascii():
        try:
            name = idna.encode(name, uts46=True).decode("ascii")
        except idna.IDNAError as exc:
            raise AddressError(f"is not a valid internationalized domain name ({exc})") from None
    if len(name) > MAX_HOST_LENGTH:
        raise AddressError(f"is longer than {MAX_HOST_LENGTH} characters")
    labels = name.split(".")
    for label in labels:
        if not label:
            raise AddressError("has an empty label (two dots in a row, or a leading dot)")
        if len(label) > MAX_LABEL_LENGTH:
            raise AddressError(f"has a label longer than {MAX_LABEL_LENGTH} characters")
        if not _LDH_LABEL.match(label):
            raise AddressError(
                f"has an invalid label {label!r}: use letters, digits and inner hyphens"
            )
        if label.lower().startswith("xn--"):
            try:
                idna.decode(label)
            except idna.IDNAError:
                raise AddressError(f"has an invalid punycode label {label!r}") from None
    if all(label.isdigit() for label in labels):
        raise AddressError("is not a valid IP address")
    return name.lower()


def check_mailbox(address: str) -> None:
    """Refuse what is not a mailbox `local@domain` (RFC 5321/5322, SMTPUTF8 allowed)."""
    if not address:
        raise AddressError("must not be empty")
    if len(address) > MAX_ADDRESS:
        raise AddressError(f"is longer than {MAX_ADDRESS} characters")
    if has_control_chars(address):
        raise AddressError("must not contain control characters (CR, LF, NUL, ...)")
    if "@" not in address:
        raise AddressError("must be an e-mail address like name@example.com")
    local, _, domain = address.rpartition("@")
    _check_local_part(local)
    if len(domain.encode("utf-8")) > MAX_DOMAIN:
        raise AddressError(f"has a domain longer than {MAX_DOMAIN} characters")
    if domain.startswith("["):
        _check_address_literal(domain)
        return
    if domain.endswith("."):
        # A host name may end in the root's dot; an address may not (RFC 5321 4.1.2),
        # and relays refuse or rewrite `pki@corp.local.`.
        raise AddressError("has a domain ending in a dot; leave the final dot out")
    try:
        ascii_host(domain)
    except AddressError as exc:
        raise AddressError(f"has a domain that {exc}") from None


def _check_local_part(local: str) -> None:
    if not local:
        raise AddressError("has an empty part before the @")
    if len(local.encode("utf-8")) > MAX_LOCAL_PART:
        raise AddressError(f"has a part before the @ longer than {MAX_LOCAL_PART} bytes")
    if has_encoded_word(local):
        # RFC 2047 section 5 forbids encoded-words in an address, yet lenient readers
        # decode them there too (quoted or not): such a part cannot be written safely.
        raise AddressError(
            "has an RFC 2047 encoded-word (=?charset?encoding?text?=) before the @, which "
            "mail programs would decode; use the address's plain form")
    if local.startswith('"') and local.endswith('"') and len(local) >= 2:
        inner = local[1:-1]
        unescaped = inner.replace("\\\\", "").replace('\\"', "")
        if '"' in unescaped or unescaped.endswith("\\"):
            raise AddressError("has a badly quoted part before the @")
        return
    if " " in local or "@" in local:
        raise AddressError("must contain exactly one @ and no spaces")
    for atom in local.split("."):
        if not atom:
            raise AddressError("has a misplaced dot before the @")
        if not _ATEXT.match(atom):
            raise AddressError("has characters not allowed before the @")


def _check_address_literal(domain: str) -> None:
    if not domain.endswith("]"):
        raise AddressError("has an unclosed address literal")
    inner = domain[1:-1]
    if inner.lower().startswith("ipv6:"):
        try:
            ipaddress.IPv6Address(inner[5:])
        except ValueError:
            raise AddressError("has an invalid IPv6 address literal") from None
        return
    try:
        ipaddress.IPv4Address(inner)
    except ValueError:
        raise AddressError("has an invalid address literal") from None
