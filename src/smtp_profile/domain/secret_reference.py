"""A credential that lives in a PAM provider (a vault), named instead of stored.

API version 2 carries a credential as `{"SecretValue", "Provider", "Parameters"}`: a
reference names a configured provider by id and says where in it the value is. The value
is fetched when it is used and never stored; what can go wrong while fetching is one of
`SecretFailure`, so the `secret` diagnostic step can explain it without knowing the
provider's kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


@dataclass(frozen=True)
class SecretReference:
    """Provider id plus the instance-level parameters (e.g. a Vault path, an AWS secret id)."""

    provider_id: int
    parameters: tuple[tuple[str, str], ...] = field(default=())

    @classmethod
    def of(cls, provider_id: int, parameters: Mapping[str, str]) -> SecretReference:
        return cls(provider_id, tuple(sorted(parameters.items())))

    @property
    def parameter_map(self) -> dict[str, str]:
        return dict(self.parameters)


class SecretFailure(StrEnum):
    """Why a provider gave no value; each has its own hint in the `secret` step."""

    UNREACHABLE = "unreachable"          # connection refused, DNS, TLS, timeout on the wire
    SIGNED_OUT = "signed_out"            # the provider's own credential is wrong or expired
    FORBIDDEN = "forbidden"              # signed in, but not allowed to read this secret
    NOT_FOUND = "not_found"              # no such secret, version or JSON key
    EMPTY = "empty"                      # found, but the value is empty
    COMMAND_FAILED = "command_failed"    # the external command exited non-zero
    TIMED_OUT = "timed_out"              # the provider or command took longer than allowed
    MISCONFIGURED = "misconfigured"      # the provider's settings or the parameters are wrong


class SecretUnavailable(Exception):
    """A provider could not give the value. `detail` never contains the value, nor the
    provider's own credentials, nor an external command's standard error."""

    def __init__(self, failure: SecretFailure, detail: str) -> None:
        super().__init__(detail)
        self.failure = failure
        self.detail = detail


@dataclass(frozen=True)
class ParameterSpec:
    """One parameter of a provider type, in Keyfactor's ProviderTypeParam terms.

    `instance_level` parameters belong to each reference (a path, a secret id); the
    others configure the provider itself (a URL, a token). `secret` ones are write-only
    and stored encrypted.
    """

    name: str
    display_name: str
    secret: bool = False
    required: bool = True
    instance_level: bool = False
