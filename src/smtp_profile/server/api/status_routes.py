"""GET /Status/Endpoints: what the caller may call, as Keyfactor Command answers it.

Every Go client built on keyfactor-auth-client-go (Keyfactor's Go SDK from 2.0, kfutil)
calls it while the client is being built, needs a 200 with a JSON array of strings, and
reads the `x-keyfactor-product-version` header of the answer. Keyfactor publishes only
that shape ("all endpoints to which the requesting identity has access", an array of
strings), not the spelling of an entry; entries here are `METHOD /Path`, the path under
the base path as Keyfactor's API reference writes it (`GET /SMTP`).

The list is read off the routes themselves (`catalogue`): a route is listed for a caller
when the permission its `Requirement` names is one the caller has, so it cannot drift
from what the routes enforce. Like GET /SMTP, a read is not audited (failed sign-ins are).
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Depends, Request
from fastapi.routing import APIRoute
from starlette.responses import Response

from smtp_profile.domain.permissions import Permission
from smtp_profile.server.api import openapi
from smtp_profile.server.permissions import CallContext, Requirement, requires
from smtp_profile.server.responses import KeyfactorJSON
from smtp_profile.usecases.accounts import Principal

router = APIRouter()

_signed_in = Depends(requires(None))

_METHOD_ORDER = {"GET": 0, "POST": 1, "PUT": 2, "PATCH": 3, "DELETE": 4}


@dataclass(frozen=True)
class Endpoint:
    """One method of one API route, and the permission it requires (None: sign-in only)."""

    method: str
    path: str
    """Under the base path, as the route declares it: `/SMTP`."""
    permission: Permission | None

    def open_to(self, principal: Principal) -> bool:
        return self.permission is None or principal.may(self.permission)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def catalogue(*routers: APIRouter) -> tuple[Endpoint, ...]:
    """Every method of every route of `routers` that checks a `Requirement`, in a stable
    order (by path, then GET, POST, PUT); app.py keeps it in `app.state.endpoints`."""
    found: list[Endpoint] = []
    for router_ in routers:
        for route in router_.routes:
            if not isinstance(route, APIRoute):
                continue
            for dependency in route.dependant.dependencies:
                if isinstance(dependency.call, Requirement):
                    found.extend(Endpoint(method, route.path, dependency.call.permission)
                                 for method in route.methods or () if method != "HEAD")
    return tuple(sorted(found, key=lambda e: (e.path.lower(),
                                              _METHOD_ORDER.get(e.method, 9), e.method)))


@router.get(
    "/Status/Endpoints",
    summary="List the endpoints the caller may call",
    description="Returns all endpoints to which the requesting identity has access, as a "
    "JSON array of strings `METHOD /Path` (the path under the base path), in either API "
    "version. Any signed-in caller may ask; the list follows the caller's permissions "
    "(/system_settings/read/ for reads, /system_settings/modify/ for PUT, Test, Diagnose "
    "and options). Keyfactor clients built on keyfactor-auth-client-go call it first.",
    openapi_extra=openapi.operation(),
    responses=openapi.responses({200: {
        "description": "The endpoints the caller may call.",
        "content": {"application/json": {"schema": {"type": "array",
                                                    "items": {"type": "string"}},
                                          "example": ["GET /SMTP", "PUT /SMTP",
                                                      "POST /SMTP/Test",
                                                      "GET /Status/Endpoints"]}},
    }}, 400),
)
async def get_status_endpoints(request: Request,
                               context: CallContext = _signed_in) -> Response:
    endpoints: tuple[Endpoint, ...] = request.app.state.endpoints
    return KeyfactorJSON([str(e) for e in endpoints if e.open_to(context.principal)])
