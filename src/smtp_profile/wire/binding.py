"""Model binding: a parsed body -> a validated wire model, with errors that name fields.

Keys are matched case-insensitively (ASP.NET does; Keyfactor clients send `host` and
`Host`), then the strict pydantic model checks types. Two keys that differ only in case
are refused rather than guessed between.
"""

from __future__ import annotations

import types
from functools import cache
from typing import Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from smtp_profile.domain.addresses import is_unsafe_char
from smtp_profile.domain.errors import DomainError, ErrorKind, ValidationFailed

M = TypeVar("M", bound=BaseModel)


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


def fold_keys(data: dict[str, Any], model: type[BaseModel], path: str = "") -> dict[str, Any]:
    """Rename keys to the model's exact aliases, recursively; unknown keys pass through."""
    shape = _shape(model)
    folded: dict[str, Any] = {}
    for key, value in data.items():
        alias, nested = shape.get(key.lower(), (key, None))
        if alias in folded:
            raise DomainError(
                ErrorKind.MALFORMED_BODY,
                f"Field '{path}{alias}' appears more than once (keys differ only in case)",
            )
        if nested is not None:
            if isinstance(value, dict):
                value = fold_keys(value, nested, f"{path}{alias}.")
            elif isinstance(value, list):
                value = [
                    fold_keys(item, nested, f"{path}{alias}[{i}].")
                    if isinstance(item, dict) else item
                    for i, item in enumerate(value)
                ]
        folded[alias] = value
    return folded


# Fields whose text legitimately spans lines (PEM certificates).
MULTILINE_FIELDS = frozenset({"CaBundle"})


def control_character_problems(value: Any, path: str = "") -> list[str]:
    """Every string anywhere in a body that holds a control character (CR, LF, NUL...).

    Checked for all fields, used or not: a value that could inject a protocol line or a
    header is refused even where the profile's type would ignore it.
    """
    if isinstance(value, str):
        field = path.rsplit(".", 1)[-1]
        allowed = "\r\n\t" if field in MULTILINE_FIELDS else ""
        if any(is_unsafe_char(ch) and ch not in allowed for ch in value):
            return [f"{path or 'value'} must not contain line breaks or other control "
                    "characters"]
        return []
    if isinstance(value, dict):
        return [p for key, item in value.items()
                for p in control_character_problems(item, f"{path}.{key}" if path else key)]
    if isinstance(value, list):
        return [p for i, item in enumerate(value)
                for p in control_character_problems(item, f"{path}[{i}]")]
    return []


def bind(model: type[M], data: dict[str, Any], *, lax: bool = False) -> M:
    """Validate `data` against `model`; `lax` converts strings, for form bodies only."""
    folded = fold_keys(data, model)
    problems = control_character_problems(folded)
    if problems:
        raise ValidationFailed(problems)
    try:
        return model.model_validate(folded, strict=not lax, by_alias=True, by_name=False)
    except ValidationError as exc:
        raise ValidationFailed(_problems(exc)) from None


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
        "string_type": "must be a string",
        "model_type": "must be an object",
        "dict_type": "must be an object",
        "list_type": "must be an array",
        "string_too_long": "is too long",
        "too_long": "has too many items",
    }.get(kind, message)
