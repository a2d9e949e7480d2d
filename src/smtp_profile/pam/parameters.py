"""What every provider type checks the same way: its settings and a reference's parameters.

A provider's settings (`ParameterSpec.instance_level` false) are checked once, before they
are stored, and a refusal names each field; a reference's parameters are checked when the
value is fetched, and a problem there is `SecretFailure.MISCONFIGURED`, so the `secret`
step can say which parameter is wrong. An empty string counts as absent in both (forms and
JSON bodies send "" for a field left blank).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from smtp_profile.domain.errors import ValidationFailed
from smtp_profile.domain.secret_reference import (
    ParameterSpec,
    SecretFailure,
    SecretUnavailable,
)

MAX_VALUE = 4096
"""Longer than any path, id or URL a provider needs; a CA bundle has its own limit."""

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def present(values: Mapping[str, str]) -> dict[str, str]:
    """The values that were given (an empty string is a field left blank)."""
    return {name: value for name, value in values.items() if value != ""}


def settings_problems(type_name: str, specs: Iterable[ParameterSpec],
                      settings: Mapping[str, str],
                      *, multiline: frozenset[str] = frozenset(),
                      long: frozenset[str] = frozenset()) -> list[str]:
    """Unknown, missing and malformed provider-level settings, each as one sentence.

    `multiline` names settings that may hold line breaks (a PEM bundle); `long` those that
    may be longer than `MAX_VALUE` (checked by their own type instead).
    """
    specs = tuple(specs)
    provider_level = {spec.name: spec for spec in specs if not spec.instance_level}
    instance_level = {spec.name for spec in specs if spec.instance_level}
    given = present(settings)
    problems: list[str] = []
    for name in sorted(given):
        if name in instance_level:
            problems.append(f"{name} is a parameter of each reference, not of the "
                            f"{type_name} provider.")
        elif name not in provider_level:
            known = ", ".join(provider_level) or "none"
            problems.append(f"{name} is not a setting of the {type_name} provider "
                            f"(its settings: {known}).")
    for name, spec in provider_level.items():
        value = given.get(name)
        if value is None:
            if spec.required:
                problems.append(f"{name} ({spec.display_name}) is required.")
            continue
        if name not in long and len(value) > MAX_VALUE:
            problems.append(f"{name} is longer than {MAX_VALUE} characters.")
        if name not in multiline and _CONTROL.search(value):
            problems.append(f"{name} must not contain control characters or line breaks.")
    return problems


def check_settings(type_name: str, specs: Iterable[ParameterSpec],
                   settings: Mapping[str, str], extra: Iterable[str] = (),
                   **options: frozenset[str]) -> None:
    """Raise `ValidationFailed` with every problem at once (the generic and `extra`)."""
    problems = settings_problems(type_name, specs, settings, **options) + list(extra)
    if problems:
        raise ValidationFailed(problems)


def reference_values(type_name: str, specs: Iterable[ParameterSpec],
                     parameters: Mapping[str, str]) -> dict[str, str]:
    """A reference's parameters, checked: unknown or missing ones, or control characters,
    are `MISCONFIGURED` (the message names the parameter, never a fetched value)."""
    instance_level = {spec.name: spec for spec in specs if spec.instance_level}
    given = present(parameters)
    for name in sorted(given):
        if name not in instance_level:
            known = ", ".join(instance_level) or "none"
            raise SecretUnavailable(
                SecretFailure.MISCONFIGURED,
                f"{name} is not a parameter of a {type_name} reference (its parameters: "
                f"{known}).")
        value = given[name]
        if len(value) > MAX_VALUE or _CONTROL.search(value):
            raise SecretUnavailable(
                SecretFailure.MISCONFIGURED,
                f"The reference's {name} is longer than {MAX_VALUE} characters or holds "
                "control characters.")
    for name, spec in instance_level.items():
        if spec.required and name not in given:
            raise SecretUnavailable(
                SecretFailure.MISCONFIGURED,
                f"The reference has no {name} ({spec.display_name}), which a {type_name} "
                "reference needs.")
    return given


def one_line(text: str, limit: int = 200) -> str:
    """A provider's own message, made safe to show: one line, at most `limit` characters."""
    flat = " ".join(_CONTROL.sub(" ", text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."
