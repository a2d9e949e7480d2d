"""The PAM provider types this service knows, by their wire name."""

from __future__ import annotations

from smtp_profile.domain.errors import ValidationFailed
from smtp_profile.pam.aws_secrets import AwsSecretsProviderType
from smtp_profile.pam.command import CommandProviderType
from smtp_profile.pam.vault import VaultProviderType
from smtp_profile.usecases.ports import PamProviderType

PROVIDER_TYPES: dict[str, PamProviderType] = {
    kind.name: kind for kind in (
        VaultProviderType(),
        AwsSecretsProviderType(),
        CommandProviderType(),
    )
}
"""Each type's module adds one entry here (one import, one line)."""


def provider_type(name: str) -> PamProviderType:
    """The type called `name`, or a clear refusal naming the known ones."""
    try:
        return PROVIDER_TYPES[name]
    except KeyError:
        known = ", ".join(sorted(PROVIDER_TYPES)) or "none"
        raise ValidationFailed(
            [f"Unknown PAM provider type {name!r}; known types: {known}."]) from None
