"""GET/PUT/DELETE /SMTP/ClientCertificate: the relay client certificate (an extension).

Keyfactor's /SMTP shape has no place for it (its Java SDK refuses unknown fields), so it
lives here, with the service's conventions: headers, sign-in, permissions, ETag/If-Match,
audit (action ClientCertificate) and the API's error body. The key and any password are
write-only.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from smtp_profile.domain.audit import AuditAction
from smtp_profile.domain.client_certificate import ClientCertificateInput
from smtp_profile.domain.permissions import Permission
from smtp_profile.server.api import openapi
from smtp_profile.server.api.refusals import refusals_recorded
from smtp_profile.server.body import read_object
from smtp_profile.server.permissions import CallContext, requires
from smtp_profile.server.request_state import runtime_of
from smtp_profile.server.responses import KeyfactorJSON
from smtp_profile.usecases.client_certificates import ClientCertificateView
from smtp_profile.wire.client_certificate import (
    ClientCertificateIn,
    ClientCertificateOut,
    client_certificate_etag,
    client_certificate_version,
    decode_client_certificate,
    encode_client_certificate,
)

router = APIRouter()

_read = Depends(requires(Permission.READ))
_modify = Depends(requires(Permission.MODIFY, audited=AuditAction.CLIENT_CERTIFICATE))
_PATH = "/SMTP/ClientCertificate"
_ETAG = {"ETag": {"description": "Version of the client certificate, for If-Match.",
                  "schema": {"type": "string"}}}


def _ok() -> dict[int, dict[str, Any]]:
    return {200: {"description": "The client certificate (never its key).",
                  "content": {"application/json": {"schema": openapi.ref(
                      ClientCertificateOut)}},
                  "headers": _ETAG}}


def _answer(view: ClientCertificateView) -> Response:
    return KeyfactorJSON(encode_client_certificate(view),
                         headers={"ETag": client_certificate_etag(view.stored.version)})


@router.get(
    _PATH,
    summary="Read the relay client certificate",
    description="Subject, issuer, serial, SHA-256 fingerprint, validity, the chain (public) "
    "and the destination it is bound to; `Usable` says whether a test of the stored "
    "profile presents it now. The private key is never returned. "
    "Permission: /system_settings/read/.",
    openapi_extra=openapi.operation(),
    responses=openapi.responses(_ok(), 400, 401, 403),
)
async def get_client_certificate(request: Request, context: CallContext = _read) -> Response:
    return _answer(await runtime_of(request).client_certificates.view())


@router.put(
    _PATH,
    summary="Set the relay client certificate",
    description="`CertificatePem` (client certificate first, then intermediates) with "
    "`PrivateKeyPem` (and `PrivateKeyPassword` if it is encrypted), or `Pkcs12` (base64) "
    "with `Pkcs12Password`. The key is re-encoded and stored sealed; no password is kept. "
    "It is bound to the stored profile's Host, Port and UseSSL and to the relay options' "
    "trust now: a later change of any of them stops it being presented until it is set "
    "again. `SaslExternal` sends AUTH EXTERNAL when the relay offers it. With `If-Match`, "
    "a change since is a 412. Permission: /system_settings/modify/.",
    openapi_extra=openapi.operation(request_body={
        "required": True,
        "content": {"application/json": {"schema": openapi.ref(ClientCertificateIn)}},
    }, if_match=True),
    responses=openapi.responses(_ok(), 400, 401, 403, 412, 413, 415),
)
async def put_client_certificate(request: Request,
                                 context: CallContext = _modify) -> Response:
    async def decode() -> tuple[ClientCertificateInput, int | None]:
        data, _ = await read_object(request)
        return (decode_client_certificate(data),
                client_certificate_version(request.headers.get("if-match")))

    given, expected = await refusals_recorded(request, context,
                                              AuditAction.CLIENT_CERTIFICATE, decode())
    return _answer(await runtime_of(request).client_certificates.set(
        given, actor=context.actor, expected_version=expected))


@router.delete(
    _PATH,
    summary="Remove the relay client certificate",
    description="Forgets the certificate and its key; answers the now empty state. With "
    "`If-Match`, a change since is a 412. Permission: /system_settings/modify/.",
    openapi_extra=openapi.operation(if_match=True),
    responses=openapi.responses(_ok(), 400, 401, 403, 412),
)
async def delete_client_certificate(request: Request,
                                    context: CallContext = _modify) -> Response:
    async def decode() -> int | None:
        return client_certificate_version(request.headers.get("if-match"))

    expected = await refusals_recorded(request, context, AuditAction.CLIENT_CERTIFICATE,
                                       decode())
    return _answer(await runtime_of(request).client_certificates.remove(
        actor=context.actor, expected_version=expected))
