"""Keyfactor's PAM provider shapes (`/PamProviders`, `/PamProviders/Types`) <-> domain.

The field names are Keyfactor's (CSS.CMS.Data.Model.Models.Provider and ProviderType,
ProviderTypeParam, PamProviderTypeParamValue, as Keyfactor's OpenAPI document and SDKs
name them). Read as Keyfactor's server reads them: unknown properties are ignored, and
Area, SecuredAreaId and the other fields this service has no use for are accepted and
ignored. A provider's secret settings (DataType 2) are write-only: their `Value` comes
back null, and a PUT that leaves one out (or null) keeps the stored value.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from smtp_profile.domain.errors import ValidationFailed
from smtp_profile.domain.pam import (
    DATA_TYPE_SECRET,
    DATA_TYPE_STRING,
    PamProvider,
    ProviderDraft,
    parameter_id,
    type_guid,
)
from smtp_profile.domain.secret_reference import ParameterSpec
from smtp_profile.usecases.ports import PamProviderType
from smtp_profile.wire.binding import bind
from smtp_profile.wire.models import _Out, _TolerantIn
from smtp_profile.wire.scalars import Boolean, WholeNumber

MAX_PARAMETER_VALUES = 64


class ProviderTypeRefIn(_TolerantIn):
    """The provider's type, by its Id (a GUID, as GET /PamProviders/Types gives it) or
    its Name."""

    id: str | None = Field(None, alias="Id")
    name: str | None = Field(None, alias="Name")


class ProviderTypeParamRefIn(_TolerantIn):
    id: WholeNumber = Field(None, alias="Id")
    name: str | None = Field(None, alias="Name")


class ProviderTypeParamValueIn(_TolerantIn):
    """One provider-level setting: the parameter (by Name or Id) and its Value."""

    value: str | None = Field(None, alias="Value",
                              description="Null or absent keeps a stored secret setting.")
    provider_type_param: ProviderTypeParamRefIn | None = Field(None, alias="ProviderTypeParam")


class PamProviderIn(_TolerantIn):
    """Body of POST and PUT /PamProviders (Keyfactor's Provider model)."""

    id: WholeNumber = Field(None, alias="Id", description="PUT: the provider to change.")
    name: str | None = Field(None, alias="Name")
    area: WholeNumber = Field(None, alias="Area", description="Accepted and ignored.")
    remote: Boolean = Field(None, alias="Remote",
                            description="Only false: providers run in this service.")
    secured_area_id: WholeNumber = Field(None, alias="SecuredAreaId",
                                         description="Accepted and ignored.")
    provider_type: ProviderTypeRefIn | None = Field(None, alias="ProviderType")
    provider_type_param_values: list[ProviderTypeParamValueIn] | None = Field(
        None, alias="ProviderTypeParamValues", max_length=MAX_PARAMETER_VALUES)


class ProviderTypeParamOut(_Out):
    id: int = Field(alias="Id")
    name: str = Field(alias="Name")
    display_name: str = Field(alias="DisplayName")
    data_type: int = Field(alias="DataType", description="1 a string, 2 a secret.")
    instance_level: bool = Field(
        alias="InstanceLevel",
        description="True: given in each reference's Parameters; false: a setting of the "
        "provider itself.")


class ProviderTypeOut(_Out):
    id: str = Field(alias="Id")
    name: str = Field(alias="Name")
    parameters: list[ProviderTypeParamOut] = Field(alias="Parameters")


class ProviderTypeParamValueOut(_Out):
    id: int = Field(alias="Id")
    value: str | None = Field(alias="Value", description="Null for secret settings.")
    instance_id: int | None = Field(alias="InstanceId")
    instance_guid: str | None = Field(alias="InstanceGuid")
    provider_type_param: ProviderTypeParamOut = Field(alias="ProviderTypeParam")


class PamProviderOut(_Out):
    id: int = Field(alias="Id")
    name: str = Field(alias="Name")
    area: int = Field(alias="Area")
    provider_type: ProviderTypeOut = Field(alias="ProviderType")
    provider_type_param_values: list[ProviderTypeParamValueOut] = Field(
        alias="ProviderTypeParamValues")
    remote: bool = Field(alias="Remote")
    secured_area_id: int | None = Field(alias="SecuredAreaId")


def _param_out(specs: tuple[ParameterSpec, ...], spec: ParameterSpec) -> ProviderTypeParamOut:
    return ProviderTypeParamOut(
        Id=parameter_id(specs, spec.name), Name=spec.name, DisplayName=spec.display_name,
        DataType=DATA_TYPE_SECRET if spec.secret else DATA_TYPE_STRING,
        InstanceLevel=spec.instance_level)


def _type_out(provider_type: PamProviderType) -> ProviderTypeOut:
    specs = provider_type.parameters
    return ProviderTypeOut(Id=type_guid(provider_type.name), Name=provider_type.name,
                           Parameters=[_param_out(specs, spec) for spec in specs])


def encode_types(types: list[PamProviderType]) -> list[dict[str, Any]]:
    return [_type_out(t).model_dump(by_alias=True) for t in types]


def encode_provider(provider: PamProvider,
                    provider_type: PamProviderType | None) -> dict[str, Any]:
    """A provider as Keyfactor shows it; secret settings only as set (Value null)."""
    specs = provider_type.parameters if provider_type is not None else ()
    settings = provider.setting_map
    values = []
    for spec in specs:
        if spec.instance_level:
            continue
        if spec.secret and spec.name in provider.secret_names:
            value = None
        elif spec.name in settings:
            value = settings[spec.name]
        else:
            continue
        values.append(ProviderTypeParamValueOut(
            Id=parameter_id(specs, spec.name), Value=value, InstanceId=None,
            InstanceGuid=None, ProviderTypeParam=_param_out(specs, spec)))
    type_out = (_type_out(provider_type) if provider_type is not None else
                ProviderTypeOut(Id=type_guid(provider.type_name), Name=provider.type_name,
                                Parameters=[]))
    return PamProviderOut(
        Id=provider.id, Name=provider.name, Area=0, ProviderType=type_out,
        ProviderTypeParamValues=values, Remote=False, SecuredAreaId=None,
    ).model_dump(by_alias=True)


def provider_id_of(data: dict[str, Any]) -> int | None:
    """The Id a PUT body names (before the rest is read against the provider's type)."""
    return bind(PamProviderIn, data).id


def decode_provider(data: dict[str, Any], types: list[PamProviderType], *,
                    default_type: PamProviderType | None = None,
                    ) -> tuple[ProviderDraft, int | None]:
    """A POST/PUT body as a draft (type by Id or Name, else `default_type`, the stored
    provider's; parameters by Name or Id) and the Id it names (PUT)."""
    body = bind(PamProviderIn, data)
    problems: list[str] = []
    if body.remote:
        problems.append("Remote: only false is supported; this service runs its providers "
                        "itself (no Universal Orchestrator)")
    provider_type = _find_type(body.provider_type, types, problems) or default_type
    values: dict[str, str | None] = {}
    for index, item in enumerate(body.provider_type_param_values or []):
        name = _parameter_name(item, provider_type, index, problems)
        if name is None:
            continue
        if name in values:
            problems.append(f"ProviderTypeParamValues: {name!r} is given more than once")
            continue
        values[name] = item.value
    if problems:
        raise ValidationFailed(problems)
    type_name = provider_type.name if provider_type is not None else None
    return ProviderDraft(name=body.name, type_name=type_name, values=values), body.id


def _find_type(given: ProviderTypeRefIn | None, types: list[PamProviderType],
               problems: list[str]) -> PamProviderType | None:
    if given is None or not (given.id or given.name):
        return None  # a PUT may leave the type out; a POST is refused by the use case
    for provider_type in types:
        if given.id and given.id.strip().lower() == type_guid(provider_type.name):
            return provider_type
        if not given.id and given.name and given.name.strip().lower() == \
                provider_type.name.lower():
            return provider_type
    known = ", ".join(f"{t.name} ({type_guid(t.name)})" for t in types) or "none"
    problems.append(f"ProviderType: no PAM provider type has the Id or Name given; known: "
                    f"{known} (GET /PamProviders/Types)")
    return None


def _parameter_name(item: ProviderTypeParamValueIn, provider_type: PamProviderType | None,
                    index: int, problems: list[str]) -> str | None:
    where = f"ProviderTypeParamValues[{index}]"
    param = item.provider_type_param
    if param is None or (param.name is None and param.id is None):
        problems.append(f"{where}.ProviderTypeParam: give its Name (or Id)")
        return None
    if param.name:
        return param.name
    specs = provider_type.parameters if provider_type is not None else ()
    if param.id is not None and 1 <= param.id <= len(specs):
        return specs[param.id - 1].name
    problems.append(f"{where}.ProviderTypeParam.Id {param.id} is not a parameter of the "
                    "provider's type (GET /PamProviders/Types)")
    return None
