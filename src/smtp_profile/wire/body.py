"""Request bytes -> a plain mapping, refusing what is not exactly one JSON object or form.

JSON is decoded strictly (wire/json_decoding.py): duplicate keys, NaN and overlong
numbers are refused, because an ambiguous body must not be half-understood and then
stored.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from smtp_profile.domain.errors import DomainError, ErrorKind
from smtp_profile.wire.json_decoding import InvalidJson, decode_json

JSON_MEDIA_TYPES = frozenset({"application/json", "text/json", "application/json-patch+json"})
FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"


def media_type(content_type: str | None) -> str | None:
    """The bare media type of a Content-Type header, lower case, without parameters."""
    if not content_type:
        return None
    return content_type.split(";", 1)[0].strip().lower()


def is_json_media_type(media: str | None) -> bool:
    return media is not None and (
        media in JSON_MEDIA_TYPES or (media.startswith("application/") and media.endswith("+json"))
    )


def _malformed(message: str) -> DomainError:
    return DomainError(ErrorKind.MALFORMED_BODY, message)


def parse_json_object(body: bytes) -> dict[str, Any]:
    """Exactly one JSON object, UTF-8, decoded strictly: no duplicate keys, no
    NaN/Infinity, no number longer than MAX_NUMBER_DIGITS."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise _malformed("The body is not valid UTF-8") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        raise _malformed("The body is empty; send a JSON object")
    try:
        value = decode_json(text, strict=True)
    except InvalidJson as exc:
        raise _malformed(str(exc)) from None
    except RecursionError:
        raise _malformed("The JSON body is nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise _malformed(
            f"The body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    if not isinstance(value, dict):
        kind = "null" if value is None else type(value).__name__.replace("dict", "object")
        kind = {"list": "an array", "str": "a string", "int": "a number", "float": "a number",
                "bool": "a boolean"}.get(kind, kind)
        raise _malformed(f"The body must be a JSON object, not {kind}")
    return value


def parse_form(body: bytes) -> dict[str, str | None]:
    """An url-encoded form; an empty value stands for null, as Keyfactor clients mean it."""
    try:
        text = body.decode("ascii")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text),
                          encoding="utf-8", errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise _malformed("The body is not valid form data (UTF-8, url-encoded)") from None
    result: dict[str, str | None] = {}
    for key, value in pairs:
        if key in result:
            raise _malformed(f"Field '{key}' appears more than once in the body")
        result[key] = value if value != "" else None
    return result
