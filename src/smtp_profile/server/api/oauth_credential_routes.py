"""Extension routes: the OAuth certificate credential of a type-3 profile.

`GET/PUT/DELETE /SMTP/OAuth/Credential`: a certificate and private key that sign the
client assertion (RFC 7523) instead of a ClientSecret, and the client secret's recorded
expiry date. Keyfactor's /SMTP shapes are unchanged; a type-3 PUT /SMTP may then omit
ClientSecret while this credential is bound to its TokenEndpoint, ClientId and relay.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from smtp_profile.domain.audit import AuditAction
from smtp_profile.domain.oauth_credential import StoredCredentials
from smtp_profile.domain.permissions import Permission
from smtp_profile.server.api import openapi
from smtp_profile.server.api.refusals import refusals_recorded
from smtp_profile.server.body import read_object
from smtp_profile.server.permissions import CallContext, requires
from smtp_profile.server.request_state import runtime_of
from smtp_profile.server.responses import KeyfactorJSON
from smtp_profile.usecases.oauth_credentials import CredentialChange, OAuthCredentialService
from smtp_profile.wire.oauth_credential import (
    OAuthCredentialIn,
    OAuthCredentialOut,
    credential_etag,
    credential_version,
    decode_credential,
    encode_credential,
)

router = APIRouter()

PATH = "/SMTP/OAuth/Credential"
_read = Depends(requires(Permission.READ))
_modify = Depends(requires(Permission.MODIFY, audited=AuditAction.OAUTH_CREDENTIAL))
_ETAG = {"ETag": {"description": "Version of the OAuth credential, for If-Match.",
                  "schema": {"type": "string"}}}


def _ok() -> dict[str, Any]:
    return {"description": "OK", "headers": _ETAG, "content": {
        "application/json": {"schema": openapi.ref(OAuthCredentialOut)}}}


def _service(request: Request) -> OAuthCredentialService:
    return runtime_of(request).oauth_credentials


async def _answer(service: OAuthCredentialService, stored: StoredCredentials) -> Response:
    return KeyfactorJSON(encode_credential(stored, in_use=await service.in_use(stored)),
                         headers={"ETag": credential_etag(stored.version)})


@router.get(
    PATH,
    summary="Read the OAuth certificate credential (never its key)",
    description="The certificate that signs the client assertion of a type-3 profile "
    "(subject, issuer, serial, SHA-256 fingerprint, SHA-1 thumbprint as Entra ID shows it, "
    "x5t#S256, not-after), where it is bound, whether the stored profile uses it, and the "
    "client secret's recorded expiry. Permission: /system_settings/read/.",
    openapi_extra=openapi.operation(),
    responses=openapi.responses({200: _ok()}, 400, 401, 403),
)
async def get_credential(request: Request, context: CallContext = _read) -> Response:
    service = _service(request)
    return await _answer(service, await service.get())


@router.put(
    PATH,
    summary="Store the OAuth certificate credential and the client secret's expiry",
    description="`Certificate` and `PrivateKey` (PEM), or `Pkcs12` (base64) with "
    "`Pkcs12Password`. The key is bound to `TokenEndpoint`, `ClientId`, `Host`, `Port` and "
    "`UseSSL` (each defaults to the stored profile's) and only ever signs assertions for "
    "them. Without a new certificate the stored one is kept while its binding is "
    "unchanged (otherwise 0xA0110007: send it again). `ClientSecretExpires` (YYYY-MM-DD) "
    "records when the client secret expires; not sent, it is cleared. With `If-Match` (the "
    "ETag of a GET), a credential changed since is a 412. Audited as OAuthCredential. "
    "Permission: /system_settings/modify/.",
    openapi_extra=openapi.operation(request_body={
        "required": True,
        "content": {"application/json": {"schema": openapi.ref(OAuthCredentialIn)}},
    }, if_match=True),
    responses=openapi.responses({200: _ok()}, 400, 401, 403, 412, 413, 415),
)
async def put_credential(request: Request, context: CallContext = _modify) -> Response:
    async def decode() -> tuple[CredentialChange, int | None]:
        data, _ = await read_object(request)
        return decode_credential(data), credential_version(request.headers.get("if-match"))

    change, expected = await refusals_recorded(request, context,
                                               AuditAction.OAUTH_CREDENTIAL, decode())
    service = _service(request)
    stored = await service.replace(change, actor=context.actor, expected_version=expected)
    return await _answer(service, stored)


@router.delete(
    PATH,
    summary="Remove the OAuth certificate credential and the recorded expiry",
    description="A type-3 profile then needs its ClientSecret again. With `If-Match`, a "
    "credential changed since is a 412. Permission: /system_settings/modify/.",
    openapi_extra=openapi.operation(if_match=True),
    responses=openapi.responses({200: _ok()}, 400, 401, 403, 412),
)
async def delete_credential(request: Request, context: CallContext = _modify) -> Response:
    async def decode() -> int | None:
        return credential_version(request.headers.get("if-match"))

    expected = await refusals_recorded(request, context, AuditAction.OAUTH_CREDENTIAL,
                                       decode())
    service = _service(request)
    return await _answer(service, await service.delete(actor=context.actor,
                                                       expected_version=expected))
