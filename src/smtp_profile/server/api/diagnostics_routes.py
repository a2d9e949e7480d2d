"""Extension routes: Diagnose (a step-by-step test report), Status, and relay Options.

Not Keyfactor shapes, but Keyfactor conventions: the same headers, versions, Basic auth,
permissions and error body as /SMTP.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response, StreamingResponse

from smtp_profile.domain.actor import Actor
from smtp_profile.domain.audit import AuditAction
from smtp_profile.domain.permissions import Permission
from smtp_profile.domain.relay_options import RelayOptions
from smtp_profile.domain.stored import StoredOptions
from smtp_profile.server.api import openapi
from smtp_profile.server.api.refusals import refusals_recorded
from smtp_profile.server.body import read_object
from smtp_profile.server.permissions import CallContext, requires
from smtp_profile.server.request_state import runtime_of
from smtp_profile.server.responses import KeyfactorJSON
from smtp_profile.usecases.profile_service import PreparedTest, ProfileService
from smtp_profile.wire.models import (
    DiagnoseV1In,
    DiagnoseV2In,
    OptionsIn,
    OptionsOut,
    ReportOut,
    StatusOut,
)
from smtp_profile.wire.report import (
    DiagnoseRequest,
    decode_diagnose,
    decode_options,
    encode_options,
    encode_report,
    encode_status,
    encode_step,
    options_etag,
    options_version,
)

router = APIRouter()

_read = Depends(requires(Permission.READ))
_diagnose = Depends(requires(Permission.MODIFY, audited=AuditAction.DIAGNOSE))
_set_options = Depends(requires(Permission.MODIFY, audited=AuditAction.OPTIONS))
NDJSON = "application/x-ndjson"


def _json(model: Any) -> dict[str, Any]:
    return {"description": "OK", "content": {"application/json": {"schema": openapi.ref(model)}}}


@router.post(
    "/SMTP/Diagnose",
    summary="Diagnose the relay step by step",
    description="Takes the Test body of either version plus `Mode` (`send`, the default, "
    "delivers the test message; `verify` stops after RCPT TO, then RSET and QUIT, and "
    "delivers nothing) and an optional `Mechanism`. A body with no profile fields (empty, "
    "or only Mode/TestRecipient/Mechanism) diagnoses the stored profile, sending to "
    "TestRecipient or else to its SenderAccount. Answers 200 with a report whenever the "
    "request is valid, whether or not the relay accepted the test. With "
    f"`Accept: {NDJSON}` the steps stream as they finish, one JSON object per line "
    '(`{"Step": ...}`), ending with `{"Report": ...}`. Permission: /system_settings/modify/.',
    openapi_extra=openapi.operation(request_body={
        "required": False,
        "content": {"application/json": {"schema": {"anyOf": [
            openapi.ref(DiagnoseV1In), openapi.ref(DiagnoseV2In)]}}},
    }),
    responses=openapi.responses({200: {
        "description": "The report (or a stream of steps then the report).",
        "content": {"application/json": {"schema": openapi.ref(ReportOut)},
                    NDJSON: {"schema": {"type": "string"}}},
        "headers": openapi.TEST_ID_HEADER,
    }}, 400, 401, 403, 413, 415),
)
async def diagnose(request: Request, context: CallContext = _diagnose) -> Response:
    async def decode() -> DiagnoseRequest:
        data, _ = await read_object(request, allow_empty=True)
        return decode_diagnose(data, context.version)

    diagnosis = await refusals_recorded(request, context, AuditAction.DIAGNOSE, decode())
    service = runtime_of(request).service
    prepared = await service.prepare_test(
        diagnosis.draft, diagnosis.recipient, actor=context.actor,
        action=AuditAction.DIAGNOSE, mode=diagnosis.mode, mechanism=diagnosis.mechanism,
        known=context.snapshot)
    headers = {"X-Test-Id": prepared.test_id}
    if NDJSON in request.headers.get("accept", ""):
        return StreamingResponse(_stream(service, prepared, context.actor),
                                 media_type=NDJSON, headers=headers)
    outcome = await service.run_test(prepared, actor=context.actor,
                                     action=AuditAction.DIAGNOSE)
    return KeyfactorJSON(encode_report(outcome.report), headers=headers)


async def _stream(service: ProfileService, prepared: PreparedTest,
                  actor: Actor) -> AsyncIterator[bytes]:
    """Each finished step as a line, then the report.

    A client that leaves stops only the streaming: the service runs the test to its end
    and records it (see ProfileService.run_test).
    """
    queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
    task = asyncio.create_task(service.run_test(
        prepared, actor=actor, action=AuditAction.DIAGNOSE,
        on_step=lambda step: queue.put_nowait({"Step": encode_step(step)})))
    task.add_done_callback(lambda _: queue.put_nowait(None))
    try:
        while (item := await queue.get()) is not None:
            yield _line(item)
        yield _line({"Report": encode_report(task.result().report)})
    finally:
        task.cancel()


def _line(item: dict[str, Any]) -> bytes:
    return json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


@router.get(
    "/SMTP/Status",
    summary="The stored profile's state and its last test",
    description="Whether a password or client secret is stored, the trust mode, and the "
    "last test of exactly the stored profile (time, user, mode, success, failed step, "
    "message, the relay certificate's expiry seen then, and whether the profile changed "
    "since), the operator's TLS settings (`TlsPolicy`: the implicit-TLS ports and "
    "where credentials may go without TLS), and `Warnings`: what needs attention before it "
    "stops mail (a client, OAuth or relay certificate or a client secret expiring within "
    "30, 14 or 3 days, a client certificate the relay no longer matches, a provider's "
    "announced end of Basic authentication). Permission: /system_settings/read/.",
    openapi_extra=openapi.operation(),
    responses=openapi.responses({200: _json(StatusOut)}, 400, 401, 403),
)
async def status(request: Request, context: CallContext = _read) -> Response:
    runtime = runtime_of(request)
    current = await runtime.service.status()
    stored = current.stored
    return KeyfactorJSON(encode_status(
        stored.profile, stored.version, stored.updated_at, stored.updated_by,
        current.options, current.last_test, current.warnings,
        implicit_tls_ports=runtime.settings.implicit_tls_ports,
        cleartext=runtime.settings.cleartext_credentials))


def _options_response(stored: StoredOptions) -> Response:
    return KeyfactorJSON(encode_options(stored.options),
                         headers={"ETag": options_etag(stored.version)})


_OPTIONS_ETAG = {"ETag": {"description": "Version of the relay options, for If-Match.",
                          "schema": {"type": "string"}}}


@router.get(
    "/SMTP/Options",
    summary="Read the relay's trust and AUTH mechanism options",
    description="The ETag header is their version, for the If-Match of a PUT. "
    "Permission: /system_settings/read/.",
    openapi_extra=openapi.operation(),
    responses=openapi.responses({200: {**_json(OptionsOut), "headers": _OPTIONS_ETAG}},
                                400, 401, 403),
)
async def get_options(request: Request, context: CallContext = _read) -> Response:
    return _options_response(await runtime_of(request).service.options())


@router.put(
    "/SMTP/Options",
    summary="Replace the relay's trust and AUTH mechanism options",
    description="`CaBundle` adds PEM CA certificates for this relay; `PinnedSha256` trusts "
    "exactly one certificate (for a self-signed relay); `Insecure` switches verification "
    "off and is shown as insecure in every report and status. Fields not sent return to "
    "their defaults. `Trust` is derived from those: what GET returns is accepted back, a "
    "`Trust` that contradicts them is a 400. With `If-Match` (the ETag of a GET), options "
    "changed since are a 412. The change and its audit record commit together. "
    "Permission: /system_settings/modify/.",
    openapi_extra=openapi.operation(request_body={
        "required": True,
        "content": {"application/json": {"schema": openapi.ref(OptionsIn)}},
    }, if_match=True),
    responses=openapi.responses({200: {**_json(OptionsOut), "headers": _OPTIONS_ETAG}},
                                400, 401, 403, 412, 413, 415),
)
async def put_options(request: Request, context: CallContext = _set_options) -> Response:
    async def decode() -> tuple[RelayOptions, int | None]:
        data, _ = await read_object(request)
        return decode_options(data), options_version(request.headers.get("if-match"))

    options, expected = await refusals_recorded(request, context, AuditAction.OPTIONS,
                                                decode())
    saved = await runtime_of(request).service.set_options(options, actor=context.actor,
                                                          expected_version=expected)
    return _options_response(saved)
