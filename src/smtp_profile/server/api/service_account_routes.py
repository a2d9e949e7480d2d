"""Extension routes: the Google service account key for the JWT bearer grant.

GET, PUT and DELETE /SMTP/OAuth/ServiceAccount, with Keyfactor's conventions (headers,
sign-in, permissions, error body) and an ETag for If-Match. A type-3 profile uses the
key when its TokenEndpoint is the key's token_uri and its ClientId the key's client_id
(domain/service_account.py); Keyfactor's GET/PUT /SMTP shapes do not change.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from smtp_profile.domain.audit import AuditAction
from smtp_profile.domain.permissions import Permission
from smtp_profile.domain.service_account import StoredServiceAccount
from smtp_profile.server.api import openapi
from smtp_profile.server.api.refusals import refusals_recorded
from smtp_profile.server.body import read_object
from smtp_profile.server.permissions import CallContext, requires
from smtp_profile.server.request_state import runtime_of
from smtp_profile.server.responses import KeyfactorJSON
from smtp_profile.wire.service_account import (
    ServiceAccountIn,
    ServiceAccountOut,
    ServiceAccountUpload,
    decode_service_account,
    encode_service_account,
    service_account_etag,
    service_account_version,
)

router = APIRouter()

PATH = "/SMTP/OAuth/ServiceAccount"
_read = Depends(requires(Permission.READ))
_modify = Depends(requires(Permission.MODIFY, audited=AuditAction.SERVICE_ACCOUNT))
_ETAG = {"ETag": {"description": "Version of the service account row, for If-Match.",
                  "schema": {"type": "string"}}}
_OK: dict[str, Any] = {"description": "OK", "headers": _ETAG, "content": {
    "application/json": {"schema": openapi.ref(ServiceAccountOut)}}}


def _response(stored: StoredServiceAccount) -> Response:
    return KeyfactorJSON(encode_service_account(stored),
                         headers={"ETag": service_account_etag(stored.version)})


@router.get(
    PATH,
    summary="Read the Google service account key (without its private key)",
    description="client_email, private_key_id, client_id, token_uri and the relay the key "
    "is saved for; the private key is write-only. Permission: /system_settings/read/.",
    openapi_extra=openapi.operation(),
    responses=openapi.responses({200: _OK}, 400, 401, 403),
)
async def get_service_account(request: Request, context: CallContext = _read) -> Response:
    return _response(await runtime_of(request).service_accounts.get())


@router.put(
    PATH,
    summary="Upload a Google service account key (OAuth 2.0 JWT bearer grant)",
    description="`KeyFile` is the service account's JSON key file; `Host`, `Port` and "
    "`UseSSL` name the only relay its tokens may go to (smtp.gmail.com, 587, true when "
    "absent). A type-3 profile whose TokenEndpoint is the key's token_uri and whose "
    "ClientId is its client_id then needs no ClientSecret: each token request is a fresh "
    "assertion signed RS256 with the key (iss: client_email, sub: RelayUsername or else "
    "SenderAccount, scope: the profile's Scope or https://mail.google.com/, aud: "
    "token_uri). With `If-Match`, a key changed since is a 412. The change and its audit "
    "record commit together. Permission: /system_settings/modify/.",
    openapi_extra=openapi.operation(request_body={
        "required": True,
        "content": {"application/json": {"schema": openapi.ref(ServiceAccountIn)}},
    }, if_match=True),
    responses=openapi.responses({200: _OK}, 400, 401, 403, 412, 413, 415),
)
async def put_service_account(request: Request,
                              context: CallContext = _modify) -> Response:
    async def decode() -> tuple[ServiceAccountUpload, int | None]:
        data, _ = await read_object(request)
        return (decode_service_account(data),
                service_account_version(request.headers.get("if-match")))

    upload, expected = await refusals_recorded(request, context,
                                               AuditAction.SERVICE_ACCOUNT, decode())
    stored = await runtime_of(request).service_accounts.upload(
        upload.key_file, host=upload.host, port=upload.port, use_ssl=upload.use_ssl,
        actor=context.actor, expected_version=expected)
    return _response(stored)


@router.delete(
    PATH,
    summary="Delete the Google service account key",
    description="A type-3 profile that named it then needs a ClientSecret again. With "
    "`If-Match`, a key changed since is a 412. Permission: /system_settings/modify/.",
    openapi_extra=openapi.operation(if_match=True),
    responses=openapi.responses({200: _OK}, 400, 401, 403, 412),
)
async def delete_service_account(request: Request,
                                 context: CallContext = _modify) -> Response:
    async def decode() -> int | None:
        return service_account_version(request.headers.get("if-match"))

    expected = await refusals_recorded(request, context, AuditAction.SERVICE_ACCOUNT,
                                       decode())
    stored = await runtime_of(request).service_accounts.delete(actor=context.actor,
                                                              expected_version=expected)
    return _response(stored)
