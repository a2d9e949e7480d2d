"""Whole numbers and booleans in Keyfactor's shapes, also when a client sends them as strings.

Keyfactor Command reads its request bodies with ASP.NET and Json.NET, whose reader takes
`"Port": "25"` for 25 and `"UseSSL": "true"` for true (JsonReader.ReadInt32String,
ReadBooleanString), and so do its form bodies. Clients written against the real server
rely on it, so these types read a string the same way:

- a whole number: ASCII digits with an optional sign and spaces around (.NET's
  `int.TryParse` with `NumberStyles.Integer`): `"25"`, `" 25 "`, `"+25"`, `"0025"`. Not
  `"25.5"`, `"2.5e1"`, `"0x19"`, `"1_000"` or other scripts' digits; not more than
  MAX_NUMBER_DIGITS significant digits (Python's `int()` must never see thousands);
- a boolean: `true` or `false` in any case with spaces around (.NET's `bool.TryParse`):
  `"true"`, `"True"`, `"FALSE"`. Not `"1"`, `"yes"`, `"on"` or `"t"`, which the real
  reader refuses too;
- the empty string is null, as Json.NET reads it.

Where this service stays stricter than Json.NET, on purpose: a JSON number is not a
boolean (Json.NET reads `1` as true; here `"UseSSL": 1` is refused, as before), and the
spaces around a value are ASCII spaces only (tabs and line breaks are control characters,
refused everywhere by wire/binding.py before these types see them). JSON numbers and
booleans themselves are read exactly as before.

The OpenAPI document shows both forms (a number or a string of digits; a boolean or
"true"/"false"), so it still describes what the server accepts.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from smtp_profile.wire.json_decoding import MAX_NUMBER_DIGITS

_WHOLE_NUMBER = re.compile(r" *([+-]?)0*([0-9]+) *", re.ASCII)
_BOOLEAN = re.compile(r" *(true|false) *", re.ASCII | re.IGNORECASE)

WHOLE_NUMBER_STRING_PATTERN = r"^( *[+-]?[0-9]+ *)?$"
BOOLEAN_STRING_PATTERN = r"^( *([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee]) *)?$"


def read_whole_number(value: Any) -> Any:
    """A string holding a whole number -> that number; "" -> None; anything else as is."""
    if not isinstance(value, str):
        return value  # the strict int check judges it
    if value == "":
        return None
    match = _WHOLE_NUMBER.fullmatch(value)
    if match is None:
        raise PydanticCustomError("whole_number_string", "whole_number_string")
    sign, digits = match.groups()
    if len(digits) > MAX_NUMBER_DIGITS:
        raise PydanticCustomError("whole_number_too_long", "whole_number_too_long")
    return int(sign + digits)


def read_boolean(value: Any) -> Any:
    """A string "true"/"false" in any case -> the boolean; "" -> None; anything else as is."""
    if not isinstance(value, str):
        return value  # the strict bool check judges it
    if value == "":
        return None
    match = _BOOLEAN.fullmatch(value)
    if match is None:
        raise PydanticCustomError("boolean_string", "boolean_string")
    return match.group(1).lower() == "true"


WholeNumber = Annotated[
    int | None,
    BeforeValidator(read_whole_number),
    WithJsonSchema({"anyOf": [
        {"type": "integer"},
        {"type": "string", "pattern": WHOLE_NUMBER_STRING_PATTERN},
        {"type": "null"},
    ]}),
]
"""A whole number, or a string holding one (read as Keyfactor's server reads it)."""

Boolean = Annotated[
    bool | None,
    BeforeValidator(read_boolean),
    WithJsonSchema({"anyOf": [
        {"type": "boolean"},
        {"type": "string", "pattern": BOOLEAN_STRING_PATTERN},
        {"type": "null"},
    ]}),
]
"""true or false, or the string "true" or "false" in any case (as Keyfactor's server reads it)."""
