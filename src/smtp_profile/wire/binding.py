"""Model binding: a parsed body -> a validated wire model, with errors that name fields.

Keys are matched case-insensitively (ASP.NET does; Keyfactor clients send `host` and
`Host`), then the strict pydantic model checks types. Two keys that differ only in case
are refused rather than guessed between (ASP.NET would keep the last; what it keeps is
not what a reader of the body may think it said).

A model of Keyfactor's shapes (`extra="ignore"`, wire/models.py) ignores properties it does
not know, as Keyfactor's server does: they are dropped here, before validation, so they
are never stored or echoed, and their names (never their values) are logged at debug
level. A model of this service's own shapes (`extra="forbid"`) refuses them by name.
Control characters are refused anywhere in a body, in ignored properties and in names
too: the rule stays one simple rule, and an ignored name is logged.
"""

from __future__ import annotations

import logging
import types
from functools import cache
from typing import Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from smtp_profile.domain.addresses import is_unsafe_char
from smtp_profile.domain.errors import DomainError, ErrorKind, ValidationFailed
from smtp_profile.wire.json_decoding import MAX_NUMBER_DIGITS

M = TypeVar("M", bound=BaseModel)

log = logging.getLogger(__name__)

_LOGGED_NAMES = 20
_LOGGED_NAME_LENGTH = 64


@cache
def _shape(model: type[BaseModel]) -> dict[str, tuple[str, type[BaseModel] | None]]:
    """lower-case alias -> (exact alias, nested model for objects and lists of objects)."""
    shape: dict[str, tuple[str, type[BaseModel] | None]] = {}
    for name, info in model.model_fields.items():
        alias = info.alias or name
        shape[alias.lower()] = (alias, _nested_model(info.annotation))
    return shape


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType, list):
        for arg in get_args(annotation):
            nested = _nested_model(arg)
            if nested is not None:
                return nested
        return None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def ignores_unknown(model: type[BaseModel]) -> bool:
    """True for Keyfactor's shapes, read as Keyfactor's server reads them."""
    return model.model_config.get("extra") == "ignore"


Ignored = list[tuple[str, str, Any]]
"""Properties dropped by fold_keys: (the path of the object that held it, name, value)."""


def fold_keys(data: dict[str, Any], model: type[BaseModel], path: str = "",
              ignored: Ignored | None = None) -> dict[str, Any]:
    """Rename keys to the model's exact aliases, recursively. Unknown keys are dropped
    (and added to `ignored`) where the model ignores them; elsewhere they pass through,
    for the model to refuse."""
    shape = _shape(model)
    folded: dict[str, Any] = {}
    for key, value in data.items():
        if key.lower() not in shape and ignores_unknown(model):
            if ignored is not None:
                ignored.append((path.removesuffix("."), key, value))
            continue
        alias, nested = shape.get(key.lower(), (key, None))
        if alias in folded:
            raise DomainError(
                ErrorKind.MALFORMED_BODY,
                f"Field '{path}{alias}' appears more than once (keys differ only in case)",
            )
        if nested is not None:
            if isinstance(value, dict):
                value = fold_keys(value, nested, f"{path}{alias}.", ignored)
            elif isinstance(value, list):
                value = [
                    fold_keys(item, nested, f"{path}{alias}[{i}].", ignored)
                    if isinstance(item, dict) else item
                    for i, item in enumerate(value)
                ]
        folded[alias] = value
    return folded


# Fields whose text legitimately spans lines (PEM certificates and keys, a key file).
MULTILINE_FIELDS = frozenset({"CaBundle", "Certificate", "PrivateKey", "KeyFile",
                              "private_key", "CertificatePem", "PrivateKeyPem", "Pkcs12"})


def control_character_problems(value: Any, path: str = "") -> list[str]:
    """Every string anywhere in a body, names included, that holds a control character
    (CR, LF, NUL...).

    Checked for all fields, used, ignored or unknown: a value that could inject a protocol
    line or a header is refused even where the profile's type would ignore it. Walked
    with a list, not by recursion: a body may nest hundreds of levels deep within its
    size limit, and Python's own recursion limit must not turn that into a 500.
    """
    problems: list[str] = []
    pending: list[tuple[str, Any]] = [(path, value)]
    while pending:
        where, item = pending.pop()
        if isinstance(item, str):
            field = where.rsplit(".", 1)[-1]
            allowed = "\r\n\t" if field in MULTILINE_FIELDS else ""
            if any(is_unsafe_char(ch) and ch not in allowed for ch in item):
                problems.append(f"{where or 'value'} must not contain line breaks or other "
                                "control characters")
        elif isinstance(item, dict):
            if any(is_unsafe_char(ch) for key in item for ch in key):
                problems.append(f"{'Field names in ' + where if where else 'Field names'} "
                                "must not contain line breaks or other control characters")
            pending.extend(reversed([(f"{where}.{key}" if where else key, inner)
                                     for key, inner in item.items()
                                     if not any(is_unsafe_char(ch) for ch in key)]))
        elif isinstance(item, list):
            pending.extend(reversed([(f"{where}[{i}]", inner) for i, inner in enumerate(item)]))
    return list(dict.fromkeys(problems))


def bind(model: type[M], data: dict[str, Any]) -> M:
    """Validate `data` against `model`, as the model says it is read (see the module).

    Form bodies come through here too: their values are all strings, read by the same
    rules as strings in JSON (wire/scalars.py), as ASP.NET reads forms.
    """
    ignored: Ignored = []
    folded = fold_keys(data, model, ignored=ignored)
    problems = control_character_problems(folded) + [
        problem for parent, name, value in ignored
        for problem in control_character_problems({name: value}, parent)]
    if problems:
        raise ValidationFailed(problems)
    if ignored:
        _log_ignored(model, [f"{parent}.{name}" if parent else name
                             for parent, name, _ in ignored])
    try:
        return model.model_validate(folded, strict=True, by_alias=True, by_name=False)
    except ValidationError as exc:
        raise ValidationFailed(_problems(exc)) from None


def _log_ignored(model: type[BaseModel], names: list[str]) -> None:
    """The names of ignored properties, at debug level: never their values, which may
    hold a secret sent under a misspelt or newer name. Names hold no control character
    (refused before) and are shortened, and only so many listed."""
    shown = [name if len(name) <= _LOGGED_NAME_LENGTH else name[:_LOGGED_NAME_LENGTH] + "..."
             for name in names[:_LOGGED_NAMES]]
    more = f" and {len(names) - _LOGGED_NAMES} more" if len(names) > _LOGGED_NAMES else ""
    log.debug("Ignored unknown properties of %s: %s%s", model.__name__,
              ", ".join(repr(name) for name in shown), more)


def _problems(exc: ValidationError) -> list[str]:
    problems: list[str] = []
    seen: set[str] = set()
    for error in exc.errors(include_url=False, include_input=False):
        location = ".".join(str(part) for part in error["loc"] if not _is_union_tag(part))
        if location in seen:
            continue
        seen.add(location)
        if error["type"] == "extra_forbidden":
            problems.append(f"Unknown field '{location}'")
        else:
            problems.append(f"{location}: {_wording(error['type'], error['msg'])}")
    return problems


_UNION_TAGS = {"int", "str", "bool", "dict[str,str]", "list", "none", "SecretIn",
               "RequestHeaderIn"}


def _is_union_tag(part: int | str) -> bool:
    return isinstance(part, str) and part in _UNION_TAGS


def _wording(kind: str, message: str) -> str:
    return {
        "int_type": "must be a whole number",
        "int_parsing": "must be a whole number",
        "int_from_float": "must be a whole number",
        "bool_type": "must be true or false",
        "bool_parsing": "must be true or false",
        "whole_number_string": 'must be a whole number; a string holding one may have only '
                               'digits, a sign and spaces around, like "25"',
        "whole_number_too_long": f"must be a whole number of at most {MAX_NUMBER_DIGITS} "
                                 "digits",
        "boolean_string": 'must be true or false; as a string, "true" or "false" (any case)',
        "string_type": "must be a string",
        "model_type": "must be an object",
        "dict_type": "must be an object",
        "list_type": "must be an array",
        "string_too_long": "is too long",
        "too_long": "has too many items",
    }.get(kind, message)
