"""JSON text -> Python values: one decoder for every JSON the service reads.

Python's json module silently keeps the last of duplicate keys, accepts NaN and
Infinity, and its int() gives up (with a ValueError of its own) on a number of thousands
of digits. What to do about each depends on whose JSON it is, so every caller says so:

- `strict=True`, a request body the service may store: all of them are refused
  (InvalidJson says why), because an ambiguous body must not be half-understood and
  then stored.
- `strict=False`, a peer's answer (a token endpoint's, a relay's XOAUTH2 challenge):
  read as far as it goes and let the caller judge the values it uses. NaN and Infinity
  stay non-finite floats, a number longer than MAX_NUMBER_DIGITS becomes a float
  (infinite if need be) instead of failing the whole answer, and the last of duplicate
  keys wins.
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_NUMBER_DIGITS = 30
"""No field holds a number near this long; longer ones never reach int() or float()."""


class InvalidJson(ValueError):
    """What a strict decode refused, in words for the sender of the body."""


def decode_json(text: str, *, strict: bool) -> Any:
    """The value `text` holds, by the rules `strict` chooses (see the module).

    Raises json.JSONDecodeError for text that is not JSON, RecursionError for nesting
    deeper than the interpreter allows, and, only when `strict`, InvalidJson.
    """
    if not strict:
        return json.loads(text, parse_int=_integer_or_float)
    return json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant,
                      parse_int=_short_integer, parse_float=_finite_float)


def _integer_or_float(text: str) -> int | float:
    return int(text) if len(text.lstrip("-")) <= MAX_NUMBER_DIGITS else float(text)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise InvalidJson(f"Field '{key}' appears more than once in the body")
        result[key] = value
    return result


def _no_constant(name: str) -> Any:
    raise InvalidJson(f"{name} is not a valid JSON number")


def _short_integer(text: str) -> int:
    if len(text.lstrip("-")) > MAX_NUMBER_DIGITS:
        raise InvalidJson(f"The number {text[:20]}... is too long ({len(text)} characters)")
    return int(text)


def _finite_float(text: str) -> float:
    if len(text) > MAX_NUMBER_DIGITS:
        raise InvalidJson(f"The number {text[:20]}... is too long ({len(text)} characters)")
    value = float(text)
    if not math.isfinite(value):
        raise InvalidJson(f"The number {text} is out of range")
    return value
