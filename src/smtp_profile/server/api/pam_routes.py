"""/PamProviders: the PAM providers, a wire-compatible subset of Keyfactor's routes.

Keyfactor guards these with its PAM permissions (`/pam/read/`, `/pam/modify/`); this
service has one pair of permissions, so reading providers needs /system_settings/read/
and changing them /system_settings/modify/ (README, "PAM providers"). Secret settings
are write-only; every change and refusal is audited.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from smtp_profile.domain.audit import AuditAction
from smtp_profile.domain.errors import ValidationFailed
from smtp_profile.domain.pam import MAX_PROVIDER_ID, ProviderDraft, provider_id_problem
from smtp_profile.domain.permissions import Permission
from smtp_profile.server.api import openapi
from smtp_profile.server.api.refusals import refusals_recorded
from smtp_profile.server.body import read_object
from smtp_profile.server.permissions import CallContext, requires
from smtp_profile.server.request_state import runtime_of
from smtp_profile.server.responses import KeyfactorJSON
from smtp_profile.wire.pam import (
    PamProviderIn,
    PamProviderOut,
    ProviderTypeOut,
    decode_provider,
    encode_provider,
    encode_types,
    provider_id_of,
)

router = APIRouter()

_read = Depends(requires(Permission.READ))
_create = Depends(requires(Permission.MODIFY, audited=AuditAction.PAM_PROVIDER_CREATE))
_update = Depends(requires(Permission.MODIFY, audited=AuditAction.PAM_PROVIDER_UPDATE))
_delete = Depends(requires(Permission.MODIFY, audited=AuditAction.PAM_PROVIDER_DELETE))

_PROVIDER = {"description": "The provider; secret settings with Value null.",
             "content": {"application/json": {"schema": openapi.ref(PamProviderOut)}}}
_NOTE = ("Permission: {permission} (Keyfactor's {keyfactor} maps to it). A subset of "
         "Keyfactor Command's PAM provider API: providers run inside this service.")


def _provider_id(request: Request) -> int:
    """The `{id}` path segment as a provider Id (the whole path matched, so it is there).

    Read from the path rather than declared as a parameter of the route: FastAPI checks
    a declared parameter's annotation against pydantic's version-1 models, importing
    `pydantic.v1` (1.5 MB resident) for these two routes alone, and the Id is parsed
    here in any case. `openapi.operation(path_id=...)` documents it."""
    text: str = request.path_params["id"]
    number = int(text) if text.isascii() and text.isdigit() and len(text) <= 10 else None
    problem = provider_id_problem(number)
    if problem is not None or number is None:
        raise ValidationFailed([f"Id must be a whole number from 1 to {MAX_PROVIDER_ID} "
                                f"(got {text[:20]!r})"])
    return number


@router.get(
    "/PamProviders/Types",
    summary="List the PAM provider types",
    description="The provider types this service implements, with their parameters: "
    "InstanceLevel false are the provider's own settings (DataType 2: secret, write-only), "
    "InstanceLevel true are given in each reference's Parameters. "
    + _NOTE.format(permission="/system_settings/read/", keyfactor="/pam/read/"),
    openapi_extra=openapi.operation(),
    responses=openapi.responses(
        {200: {"description": "The types.", "content": {"application/json": {
            "schema": {"type": "array", "items": openapi.ref(ProviderTypeOut)}}}}},
        400, 401, 403),
)
async def get_types(request: Request, _context: CallContext = _read) -> Response:
    return KeyfactorJSON(encode_types(runtime_of(request).pam.types()))


@router.get(
    "/PamProviders",
    summary="List the PAM providers",
    description="Every configured provider, by Id; secret settings are never returned. "
    + _NOTE.format(permission="/system_settings/read/", keyfactor="/pam/read/"),
    openapi_extra=openapi.operation(),
    responses=openapi.responses(
        {200: {"description": "The providers.", "content": {"application/json": {
            "schema": {"type": "array", "items": openapi.ref(PamProviderOut)}}}}},
        400, 401, 403),
)
async def list_providers(request: Request, _context: CallContext = _read) -> Response:
    pam = runtime_of(request).pam
    types = {t.name: t for t in pam.types()}
    return KeyfactorJSON([encode_provider(p, types.get(p.type_name))
                          for p in await pam.list()])


@router.get(
    "/PamProviders/{id}",
    summary="Read one PAM provider",
    description="The provider with this Id; 404 (0xA0110030) if there is none. "
    + _NOTE.format(permission="/system_settings/read/", keyfactor="/pam/read/"),
    openapi_extra=openapi.operation(path_id="The provider's Id."),
    responses=openapi.responses({200: _PROVIDER}, 400, 401, 403, 404),
)
async def get_provider(request: Request, _context: CallContext = _read) -> Response:
    pam = runtime_of(request).pam
    provider = await pam.get(_provider_id(request))
    types = {t.name: t for t in pam.types()}
    return KeyfactorJSON(encode_provider(provider, types.get(provider.type_name)))


@router.post(
    "/PamProviders",
    summary="Add a PAM provider",
    description="Name, ProviderType (Id or Name, from GET /PamProviders/Types) and the "
    "type's provider-level settings in ProviderTypeParamValues (each a ProviderTypeParam "
    "by Name or Id, and its Value). The settings are checked before anything is stored; "
    "secret ones are stored encrypted and never returned. Remote must be false. "
    + _NOTE.format(permission="/system_settings/modify/", keyfactor="/pam/modify/"),
    openapi_extra=openapi.operation(request_body=openapi.body(json=[PamProviderIn])),
    responses=openapi.responses({200: _PROVIDER}, 400, 401, 403, 409, 413, 415),
)
async def create_provider(request: Request, context: CallContext = _create) -> Response:
    runtime = runtime_of(request)

    async def decode() -> ProviderDraft:
        data, _ = await read_object(request)
        return decode_provider(data, runtime.pam.types())[0]

    draft = await refusals_recorded(request, context, AuditAction.PAM_PROVIDER_CREATE,
                                    decode())
    provider = await runtime.pam.create(draft, actor=context.actor)
    return KeyfactorJSON(encode_provider(provider, runtime.pam.type_of(provider.type_name)))


@router.put(
    "/PamProviders",
    summary="Change a PAM provider",
    description="The provider named by Id gets this Name and these settings: a plain "
    "setting not sent is cleared, a secret one not sent (or null) is kept. The type cannot "
    "change. Values remembered from the provider are forgotten. "
    + _NOTE.format(permission="/system_settings/modify/", keyfactor="/pam/modify/"),
    openapi_extra=openapi.operation(request_body=openapi.body(json=[PamProviderIn])),
    responses=openapi.responses({200: _PROVIDER}, 400, 401, 403, 404, 409, 413, 415),
)
async def update_provider(request: Request, context: CallContext = _update) -> Response:
    runtime = runtime_of(request)

    async def decode() -> tuple[ProviderDraft, int]:
        data, _ = await read_object(request)
        provider_id = provider_id_of(data)
        if provider_id is None:
            raise ValidationFailed(["Id is required: the provider to change"])
        problem = provider_id_problem(provider_id)
        if problem is not None:
            raise ValidationFailed([problem])
        current = await runtime.pam.get(provider_id)
        draft, _ = decode_provider(data, runtime.pam.types(),
                                   default_type=runtime.pam.type_of(current.type_name))
        return draft, provider_id

    draft, provider_id = await refusals_recorded(
        request, context, AuditAction.PAM_PROVIDER_UPDATE, decode())
    provider = await runtime.pam.update(provider_id, draft, actor=context.actor)
    return KeyfactorJSON(encode_provider(provider, runtime.pam.type_of(provider.type_name)))


@router.delete(
    "/PamProviders/{id}",
    summary="Remove a PAM provider",
    description="Refused with 409 (0xA0110031) while the SMTP profile refers to the "
    "provider: point the credentials elsewhere first. "
    + _NOTE.format(permission="/system_settings/modify/", keyfactor="/pam/modify/"),
    openapi_extra=openapi.operation(path_id="The provider's Id."),
    responses=openapi.responses({204: {"description": "Removed."}}, 400, 401, 403, 404, 409),
)
async def delete_provider(request: Request, context: CallContext = _delete) -> Response:
    runtime = runtime_of(request)

    async def decode() -> int:
        return _provider_id(request)

    number = await refusals_recorded(request, context, AuditAction.PAM_PROVIDER_DELETE,
                                     decode())
    await runtime.pam.delete(number, actor=context.actor)
    return Response(status_code=204)



