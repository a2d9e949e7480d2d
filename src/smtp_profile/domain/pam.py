"""PAM providers as the operator configures them, and the rules their values obey.

A provider is a named instance of a provider type (`PamProviderType` in usecases/ports.py)
with the type's provider-level settings: plain ones are shown back, secret ones (a Vault
token, AWS keys) are write-only and only ever said to be set. A reference in the profile
(`SecretReference`) names a provider and gives the type's instance-level parameters.

Pure: the types are described here only by their `ParameterSpec`s.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from smtp_profile.domain.addresses import has_control_chars
from smtp_profile.domain.errors import ValidationFailed
from smtp_profile.domain.secret_reference import ParameterSpec, SecretFailure, SecretReference
from smtp_profile.domain.secrets import Secret

MAX_PROVIDER_NAME_LENGTH = 128
MAX_PARAMETER_NAME_LENGTH = 128
MAX_PARAMETER_VALUE_LENGTH = 4096
MAX_PARAMETERS = 32
MAX_PROVIDER_ID = 2**31 - 1
"""Provider Ids are 32-bit, as Keyfactor's (and the database column) are."""

# Keyfactor's PamParameterDataType: 1 a string, 2 a secret (stored encrypted).
DATA_TYPE_STRING = 1
DATA_TYPE_SECRET = 2

_TYPE_NAMESPACE = uuid.UUID("6f1c2a44-52b6-4f5e-9d0c-2f5d7b0e9a11")


def type_guid(type_name: str) -> str:
    """A provider type's Id as Keyfactor gives it (a GUID), stable for its name."""
    return str(uuid.uuid5(_TYPE_NAMESPACE, type_name))


def parameter_id(specs: Sequence[ParameterSpec], name: str) -> int:
    """A parameter's numeric Id (Keyfactor's ProviderTypeParam.Id): its place in the type."""
    for index, spec in enumerate(specs, start=1):
        if spec.name == name:
            return index
    raise KeyError(name)


@dataclass(frozen=True)
class PamProvider:
    """A configured provider. `secrets` hold the write-only provider-level values."""

    id: int
    name: str
    type_name: str
    settings: tuple[tuple[str, str], ...] = ()
    secrets: tuple[tuple[str, Secret], ...] = field(default=(), repr=False)
    version: int = 1
    updated_at: datetime | None = None
    updated_by: str | None = None

    @property
    def setting_map(self) -> dict[str, str]:
        return dict(self.settings)

    def opened_settings(self) -> dict[str, str]:
        """Every provider-level value, secret ones revealed: only for `PamProviderType.open`."""
        return {**dict(self.settings), **{k: v.reveal() for k, v in self.secrets}}

    @property
    def secret_names(self) -> frozenset[str]:
        return frozenset(name for name, _ in self.secrets)


@dataclass(frozen=True)
class ProviderDraft:
    """A provider as a client sent it: `values` None means "not sent" (a secret kept)."""

    name: str | None
    type_name: str | None
    values: Mapping[str, str | None]


def build_provider(draft: ProviderDraft, specs: Sequence[ParameterSpec], *,
                   provider_id: int = 0, stored: PamProvider | None = None) -> PamProvider:
    """Validate a provider's name and provider-level values against its type.

    A secret value not sent (or sent null/empty) on an update keeps the stored one; a
    plain value not sent is cleared. Instance-level parameters belong to references and
    are refused here, as are names the type does not have.
    """
    problems: list[str] = []
    name = (draft.name or "").strip()
    if not name:
        problems.append("Name is required")
    elif has_control_chars(name) or len(name) > MAX_PROVIDER_NAME_LENGTH:
        problems.append(f"Name must be at most {MAX_PROVIDER_NAME_LENGTH} characters, "
                        "without control characters")
    by_name = {spec.name: spec for spec in specs}
    settings: dict[str, str] = {}
    secrets: dict[str, Secret] = {}
    kept = dict(stored.secrets) if stored is not None else {}
    for key, value in draft.values.items():
        spec = by_name.get(key)
        if spec is None:
            problems.append(f"ProviderTypeParamValues: {key!r} is not a parameter of type "
                            f"{draft.type_name!r}; known: {_known(specs, instance=False)}")
            continue
        if spec.instance_level:
            problems.append(f"ProviderTypeParamValues: {key!r} is an instance-level "
                            "parameter: it belongs in each reference's Parameters")
            continue
        if value is None or value == "":
            continue
        if has_control_chars(value) or len(value) > MAX_PARAMETER_VALUE_LENGTH:
            problems.append(f"ProviderTypeParamValues: {key!r} must be at most "
                            f"{MAX_PARAMETER_VALUE_LENGTH} characters, without line breaks "
                            "or other control characters")
            continue
        if spec.secret:
            secrets[key] = Secret(value)
        else:
            settings[key] = value
    for spec in specs:
        if spec.instance_level or not spec.secret or spec.name in secrets:
            continue
        if spec.name in kept and draft.values.get(spec.name) is None:
            secrets[spec.name] = kept[spec.name]
    for spec in specs:
        if spec.instance_level or not spec.required:
            continue
        if spec.name not in settings and spec.name not in secrets:
            problems.append(f"ProviderTypeParamValues: {spec.name!r} ({spec.display_name}) "
                            "is required")
    if problems:
        raise ValidationFailed(problems)
    return PamProvider(id=provider_id, name=name, type_name=draft.type_name or "",
                       settings=tuple(sorted(settings.items())),
                       secrets=tuple(sorted(secrets.items())),
                       version=stored.version if stored is not None else 1)


def reference_problems(field_name: str, reference: SecretReference,
                       specs: Sequence[ParameterSpec]) -> list[str]:
    """What is wrong with a reference's Parameters for its provider's type ([]: nothing)."""
    problems: list[str] = []
    instance = {spec.name: spec for spec in specs if spec.instance_level}
    given = reference.parameter_map
    for key in given:
        if key not in instance:
            problems.append(f"{field_name}.Parameters: {key!r} is not an instance-level "
                            f"parameter of the provider's type; known: "
                            f"{_known(specs, instance=True)}")
    for spec in instance.values():
        if spec.required and not given.get(spec.name):
            problems.append(f"{field_name}.Parameters: {spec.name!r} ({spec.display_name}) "
                            "is required")
    return problems


def check_reference_shape(field_name: str, provider: object,
                          parameters: Mapping[str, str | None] | None) -> SecretReference:
    """A reference from its wire parts: a whole-number Provider and string Parameters."""
    problems: list[str] = []
    provider_id = _provider_id(provider)
    if provider_id is None:
        problems.append(f"{field_name}.Provider must be the Id of a PAM provider (a whole "
                        f"number from 1 to {MAX_PROVIDER_ID})")
    values: dict[str, str] = {}
    items = dict(parameters or {})
    if len(items) > MAX_PARAMETERS:
        problems.append(f"{field_name}.Parameters may hold at most {MAX_PARAMETERS} entries")
    for key, value in items.items():
        if value is None or value == "":
            continue
        if (not key or len(key) > MAX_PARAMETER_NAME_LENGTH
                or len(value) > MAX_PARAMETER_VALUE_LENGTH or has_control_chars(value)):
            problems.append(f"{field_name}.Parameters: {key[:40]!r} must be a name of at most "
                            f"{MAX_PARAMETER_NAME_LENGTH} characters with a value of at most "
                            f"{MAX_PARAMETER_VALUE_LENGTH}, without control characters")
            continue
        values[key] = value
    if problems or provider_id is None:
        raise ValidationFailed(problems)
    return SecretReference.of(provider_id, values)


def _provider_id(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 < value <= MAX_PROVIDER_ID else None
    text = value.strip() if isinstance(value, str) else ""
    if text.isascii() and text.isdigit() and len(text) <= 10:
        number = int(text)
        return number if 0 < number <= MAX_PROVIDER_ID else None
    return None


def provider_id_problem(value: int | None) -> str | None:
    """Why `value` cannot be a provider's Id (None: it can)."""
    if value is None or _provider_id(value) is None:
        return f"Id must be a whole number from 1 to {MAX_PROVIDER_ID} (got {value})"
    return None


def _known(specs: Sequence[ParameterSpec], *, instance: bool) -> str:
    names = [spec.name for spec in specs if spec.instance_level is instance]
    return ", ".join(names) or "none"


SECRET_HINTS: dict[SecretFailure, str] = {
    SecretFailure.UNREACHABLE: "The PAM provider could not be reached: check its address "
    "(the provider's settings), that it is running, and that this service may connect to it.",
    SecretFailure.SIGNED_OUT: "The PAM provider refused this service's own credential (a "
    "token or key that is wrong, expired or revoked): set it again with PUT /PamProviders "
    "or `smtp-profile pam set`.",
    SecretFailure.FORBIDDEN: "The provider's credential is valid but not allowed to read "
    "this secret: grant it read access to the path or secret id in the reference.",
    SecretFailure.NOT_FOUND: "No secret (or no such key in it) at the place the reference "
    "names: check the reference's Parameters against the vault.",
    SecretFailure.EMPTY: "The secret exists but is empty: store the credential in the vault.",
    SecretFailure.COMMAND_FAILED: "The external command exited with an error; run it by "
    "hand as the service's user to see why (its error output is never logged here).",
    SecretFailure.TIMED_OUT: "The PAM provider or command took longer than allowed: check "
    "that it is not waiting for input or a slow network.",
    SecretFailure.MISCONFIGURED: "The provider's settings or the reference's Parameters "
    "cannot work as they are: correct them (the message says which).",
}


@dataclass(frozen=True)
class ReferenceUse:
    """One reference a test needs: the profile field it fills and where it comes from."""

    field_name: str
    reference: SecretReference


def provider_ids(references: Sequence[SecretReference | None]) -> frozenset[int]:
    return frozenset(ref.provider_id for ref in references if ref is not None)
