"""GET /SMTP/Audit: our extension listing the audit trail, newest first, in pages.

Read-only by design: there is no route that edits or deletes a record; records leave
only by the retention setting.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from smtp_profile.domain.permissions import Permission
from smtp_profile.server.api import openapi
from smtp_profile.server.permissions import CallContext, requires
from smtp_profile.server.request_state import runtime_of
from smtp_profile.server.responses import KeyfactorJSON
from smtp_profile.usecases.audit_trail import utc_now
from smtp_profile.wire.audit import (
    DEFAULT_RETURN_LIMIT,
    MAX_RETURN_LIMIT,
    decode_query,
    encode_record,
)

router = APIRouter()

TOTAL_COUNT_HEADER = "X-Total-Count"

_read = Depends(requires(Permission.READ))

_QUERY_PARAMETERS = [
    {"name": "pageReturned", "in": "query", "required": False,
     "schema": {"type": "integer", "minimum": 1, "default": 1},
     "description": "Page to return, 1 first (names are case-insensitive)."},
    {"name": "returnLimit", "in": "query", "required": False,
     "schema": {"type": "integer", "minimum": 1, "maximum": MAX_RETURN_LIMIT,
                "default": DEFAULT_RETURN_LIMIT},
     "description": "Records per page."},
    {"name": "action", "in": "query", "required": False,
     "schema": {"type": "string"},
     "description": "Only these actions: Put, Test, Diagnose, Options, ClientCertificate, "
     "OAuthCredential, ServiceAccount, FailedAuthentication, "
     "FailedAuthenticationSummary, PamProviderCreate, PamProviderUpdate, "
     "PamProviderDelete (repeat the "
     "parameter or separate with commas; case-insensitive)."},
    {"name": "since", "in": "query", "required": False, "schema": {"type": "string"},
     "description": "Records at or after this time: ISO 8601 (UTC unless an offset is "
     "given) or an age such as 30m, 24h, 7d."},
    {"name": "until", "in": "query", "required": False, "schema": {"type": "string"},
     "description": "Records before this time, same forms as since."},
]


@router.get(
    "/SMTP/Audit",
    summary="List the audit trail",
    description="Every PUT, Test, Diagnose, relay options change and failed "
    "authentication, newest first: time (UTC), "
    "user, client address, action, outcome (the error code and message when refused) and, "
    "for a PUT, the changed fields with old and new values; secret fields are reported "
    "only as changed. An extension of this service, not a Keyfactor route. "
    "Permission: /system_settings/read/.",
    openapi_extra={"parameters": [*openapi.parameters(), *_QUERY_PARAMETERS]},
    responses=openapi.responses({200: openapi.audit_content(TOTAL_COUNT_HEADER)},
                                400, 401, 403),
)
async def get_audit(request: Request, context: CallContext = _read) -> Response:
    query = decode_query(request.query_params.multi_items(), now=utc_now())
    page = await runtime_of(request).audit.list(query)
    return KeyfactorJSON([encode_record(r) for r in page.records],
                         headers={TOTAL_COUNT_HEADER: str(page.total)})
