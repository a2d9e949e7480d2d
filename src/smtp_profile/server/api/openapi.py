"""The OpenAPI document: built from the same wire models the routes bind with.

Routes read their bodies themselves (to fold key case, accept forms and refuse duplicate
keys), so FastAPI cannot infer the request schemas; this module declares them, the
Keyfactor headers, Basic and Bearer authentication and the error body for every status.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from smtp_profile.domain.errors import ErrorKind
from smtp_profile.wire.audit import AuditRecordOut
from smtp_profile.wire.client_certificate import ClientCertificateIn, ClientCertificateOut
from smtp_profile.wire.models import (
    DiagnoseV1In,
    DiagnoseV2In,
    ErrorOut,
    OptionsIn,
    OptionsOut,
    ProfileV1In,
    ProfileV1Out,
    ProfileV2In,
    ProfileV2Out,
    ReportOut,
    StatusOut,
    TestV1In,
    TestV1Out,
    TestV2In,
)
from smtp_profile.wire.oauth_credential import OAuthCredentialIn, OAuthCredentialOut
from smtp_profile.wire.pam import PamProviderIn, PamProviderOut, ProviderTypeOut
from smtp_profile.wire.service_account import ServiceAccountIn, ServiceAccountOut

_REF = "#/components/schemas/{model}"
_IN_MODELS: Sequence[type[BaseModel]] = (ProfileV1In, ProfileV2In, TestV1In, TestV2In,
                                         DiagnoseV1In, DiagnoseV2In, OptionsIn,
                                         OAuthCredentialIn, ServiceAccountIn,
                                         ClientCertificateIn, PamProviderIn)
_OUT_MODELS: Sequence[type[BaseModel]] = (ProfileV1Out, ProfileV2Out, TestV1Out, ErrorOut,
                                          ReportOut, StatusOut, OptionsOut, AuditRecordOut,
                                          OAuthCredentialOut, ServiceAccountOut,
                                          ClientCertificateOut, PamProviderOut,
                                          ProviderTypeOut)

TEST_ID_HEADER = {
    "X-Test-Id": {
        "description": "Id of this test; also in the test message and its Message-ID.",
        "schema": {"type": "string"},
    }
}

_STATUS_TEXT = {
    400: "Invalid request, or the test e-mail failed (the Message names the step).",
    401: "Missing or wrong credentials.",
    403: "The user lacks the permission, or (Test, Diagnose) the target or recipient is "
    "outside the operator's policy.",
    404: "No such route, or (PAM providers) no provider with this Id.",
    405: "Method not allowed.",
    409: "Conflict: the PAM provider is in use by the profile, or its Name is taken.",
    412: "If-Match does not match the stored profile.",
    413: "Body larger than 64 KiB.",
    415: "Content-Type not accepted.",
    429: "Too many failed sign-ins (or, for Test and Diagnose, too many tests); see "
    "Retry-After.",
    500: "Unexpected error.",
    503: "Database unavailable, or (Test, Diagnose) too many tests running on this "
    "instance; see Retry-After.",
}


def ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": _REF.format(model=model.__name__)}


def parameters(*, if_match: bool = False,
               path_id: str | None = None) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [] if path_id is None else [{
        "name": "id", "in": "path", "required": True,
        "schema": {"type": "integer", "minimum": 1}, "description": path_id,
    }]
    params += [
        {
            "name": "x-keyfactor-requested-with",
            "in": "header",
            "required": True,
            "schema": {"type": "string", "enum": ["APIClient", "XMLHttpRequest"]},
            "description": "Required on every call.",
        },
        {
            "name": "x-keyfactor-api-version",
            "in": "header",
            "required": False,
            "schema": {"type": "string", "enum": ["1", "1.0", "2", "2.0"]},
            "description": "Endpoint version; 1 when absent.",
        },
    ]
    if if_match:
        params.append({
            "name": "If-Match",
            "in": "header",
            "required": False,
            "schema": {"type": "string"},
            "description": "ETag from a GET; the PUT fails with 412 if the profile changed.",
        })
    return params


def body(*, json: Sequence[type[BaseModel]],
         form: type[BaseModel] | None = None) -> dict[str, Any]:
    schema = {"anyOf": [ref(m) for m in json]}
    content: dict[str, Any] = {"application/json": {"schema": schema}}
    if form is not None:
        content["application/x-www-form-urlencoded"] = {"schema": ref(form)}
    return {"required": True, "content": content}


def operation(*, request_body: dict[str, Any] | None = None, if_match: bool = False,
              path_id: str | None = None) -> dict[str, Any]:
    """The operation's extra OpenAPI: the Keyfactor headers, If-Match and the `{id}` path
    segment when the route has them (routes read them themselves, see pam_routes)."""
    extra: dict[str, Any] = {"parameters": parameters(if_match=if_match, path_id=path_id)}
    if request_body is not None:
        extra["requestBody"] = request_body
    return extra


def profile_content() -> dict[str, Any]:
    return {
        "description": "The profile, in the shape of the requested version.",
        "content": {"application/json": {"schema": {"anyOf": [ref(ProfileV1Out),
                                                               ref(ProfileV2Out)]}}},
        "headers": {"ETag": {"description": "Version of the profile, for If-Match.",
                             "schema": {"type": "string"}}},
    }


def audit_content(total_header: str) -> dict[str, Any]:
    return {
        "description": "One page of audit records, newest first.",
        "content": {"application/json": {"schema": {"type": "array",
                                                    "items": ref(AuditRecordOut)}}},
        "headers": {total_header: {"description": "Records matching the filters, all pages.",
                                   "schema": {"type": "integer"}}},
    }


def responses(success: dict[int, dict[str, Any]], *errors: int) -> dict[int | str, Any]:
    result: dict[int | str, Any] = {}
    for status, response in success.items():
        result[status] = response
    # Every route authenticates (401, and 429 while failed sign-ins must wait).
    for status in sorted({*errors, 401, 405, 429, 500, 503}):
        result[status] = {
            "description": _STATUS_TEXT[status],
            "content": {"application/json": {"schema": ref(ErrorOut)}},
        }
    return result


SECURITY_SCHEMES: dict[str, Any] = {
    "basicAuth": {
        "type": "http", "scheme": "basic",
        "description": "A local user: `user`, `DOMAIN\\user`; switched off by "
                       "--no-basic-auth.",
    },
    "bearerAuth": {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
        "description": "An access token from the operator's OpenID Connect identity "
                       "provider (--oidc-issuer); refused tokens are answered 401 with "
                       "WWW-Authenticate: Bearer error=\"invalid_token\".",
    },
}
"""Both ways an API client signs in (RFC 7617 Basic, RFC 6750 Bearer); either will do."""


def install(app: FastAPI) -> None:
    """Complete the generated document with the wire models and both auth schemes."""

    def build() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = get_openapi(
            title=app.title, version=app.version, description=app.description,
            routes=app.routes,
        )
        _, in_schemas = models_json_schema([(m, "validation") for m in _IN_MODELS],
                                           ref_template=_REF)
        _, out_schemas = models_json_schema([(m, "serialization") for m in _OUT_MODELS],
                                            ref_template=_REF)
        components = document.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        schemas.update(in_schemas.get("$defs", {}))
        schemas.update(out_schemas.get("$defs", {}))
        components["securitySchemes"] = SECURITY_SCHEMES
        document["security"] = [{"bearerAuth": []}, {"basicAuth": []}]
        document.setdefault("info", {})["x-error-codes"] = {
            kind.code: kind.meaning for kind in ErrorKind
        }
        app.openapi_schema = document
        return document

    app.openapi = build  # type: ignore[method-assign]
