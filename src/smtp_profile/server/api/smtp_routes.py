"""GET/PUT /SMTP and POST /SMTP/Test: the Keyfactor Command SMTP API, versions 1 and 2."""

from __future__ import annotations

import re

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from smtp_profile.domain.audit import AuditAction
from smtp_profile.domain.errors import DomainError, ErrorKind
from smtp_profile.domain.permissions import Permission
from smtp_profile.domain.profile import ProfileDraft
from smtp_profile.server.api import openapi
from smtp_profile.server.api.profile_answers import profile_response
from smtp_profile.server.api.refusals import refusals_recorded
from smtp_profile.server.body import read_object
from smtp_profile.server.permissions import CallContext, requires
from smtp_profile.server.request_state import runtime_of
from smtp_profile.server.responses import KeyfactorJSON, error_response
from smtp_profile.wire import v1, v2
from smtp_profile.wire.models import ProfileV1In, ProfileV2In, TestV1In, TestV1Out, TestV2In

router = APIRouter()

_read = Depends(requires(Permission.READ))
_modify_put = Depends(requires(Permission.MODIFY, audited=AuditAction.PUT))
_modify_test = Depends(requires(Permission.MODIFY, audited=AuditAction.TEST))

_VERSION_TAG = re.compile(r"[0-9]{1,19}")


def expected_version(request: Request) -> int | None:
    """The profile version an `If-Match` header insists on; None when absent or `*`."""
    header = request.headers.get("if-match")
    if header is None or header.strip() == "*":
        return None
    tag = header.split(",")[0].strip().removeprefix("W/").strip('"')
    # ASCII digits only, and no more than a version can have: int() of other scripts'
    # digits, or of thousands of digits, fails in Python itself.
    if not _VERSION_TAG.fullmatch(tag):
        raise DomainError(ErrorKind.PRECONDITION_FAILED,
                          f"If-Match {header[:40]!r} is not an ETag of this profile; "
                          "use the ETag header of a GET.")
    return int(tag)


@router.get(
    "/SMTP",
    summary="Read the SMTP profile",
    description="Returns the single SMTP profile (Id 1). Passwords and client secrets are "
    "never returned. Permission: /system_settings/read/.",
    openapi_extra=openapi.operation(),
    responses=openapi.responses({200: openapi.profile_content()}, 400, 401, 403),
)
async def get_smtp(request: Request, context: CallContext = _read) -> Response:
    stored = await runtime_of(request).service.get(context.profile_stamp)
    return profile_response(stored, context.version)


@router.put(
    "/SMTP",
    summary="Replace the SMTP profile",
    description="Replaces the whole profile; fields not sent are cleared, except the "
    "write-only password, which is kept when absent and the destination (Host, Port, "
    "UseSSL, RelayAuthenticationType, RelayUsername) is unchanged, and the write-only "
    "OAuth ClientSecret, kept likewise while TokenEndpoint, ClientId, Host, Port and UseSSL "
    "are unchanged. Version 1 also accepts a form-encoded body; it keeps a type-3 "
    "profile's OAuth settings and cannot switch it to another type. "
    "Permission: /system_settings/modify/.",
    openapi_extra=openapi.operation(
        request_body=openapi.body(
            json=[ProfileV1In, ProfileV2In], form=ProfileV1In,
        ),
        if_match=True,
    ),
    responses=openapi.responses({200: openapi.profile_content()}, 400, 401, 403, 412, 413, 415),
)
async def put_smtp(request: Request, context: CallContext = _modify_put) -> Response:
    async def decode() -> tuple[ProfileDraft, int | None]:
        data, _ = await read_object(request, allow_form=context.version == 1)
        draft = v1.decode_profile(data) if context.version == 1 else v2.decode_profile(data)
        return draft, expected_version(request)

    draft, expected = await refusals_recorded(request, context, AuditAction.PUT, decode())
    stored = await runtime_of(request).service.replace(
        draft, actor=context.actor, expected_version=expected, known=context.snapshot
    )
    return profile_response(stored, context.version)


@router.post(
    "/SMTP/Test",
    summary="Send a test e-mail",
    description="Sends one test message with the settings in the body (not the stored "
    "ones) to TestRecipient. A missing password or OAuth client secret uses the stored one "
    "only if the destination is the one it was saved for. Type 3 obtains an access token "
    "(client credentials) and authenticates with AUTH XOAUTH2, over TLS only. Version 1 "
    "answers with the tested settings; "
    "version 2 with an empty body. Every answer carries the X-Test-Id header, also found "
    "in the test message. Permission: /system_settings/modify/.",
    openapi_extra=openapi.operation(request_body=openapi.body(json=[TestV1In, TestV2In])),
    responses=openapi.responses(
        {200: {
            "description": "Sent. Version 1: the tested settings; version 2: empty body.",
            "content": {"application/json": {"schema": openapi.ref(TestV1Out)}},
            "headers": openapi.TEST_ID_HEADER,
        }},
        400, 401, 403, 413, 415,
    ),
)
async def post_smtp_test(request: Request, context: CallContext = _modify_test) -> Response:
    async def decode() -> tuple[ProfileDraft, str | None]:
        data, _ = await read_object(request)
        return v1.decode_test(data) if context.version == 1 else v2.decode_test(data)

    draft, recipient = await refusals_recorded(request, context, AuditAction.TEST, decode())
    outcome = await runtime_of(request).service.test(draft, recipient, actor=context.actor,
                                                      known=context.snapshot)
    headers = {"X-Test-Id": outcome.report.test_id}
    if not outcome.report.success:
        return error_response(ErrorKind.TEST_FAILED, outcome.report.failure_summary(), headers)
    if context.version == 1:
        return KeyfactorJSON(v1.encode_test(outcome.profile, outcome.recipient), headers=headers)
    return Response(status_code=200, headers=headers)

