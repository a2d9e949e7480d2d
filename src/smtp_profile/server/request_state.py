"""What the service knows of a request beyond its headers: the runtime serving it and
the client's address."""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import Scope

from smtp_profile.runtime import Runtime


def runtime_of(request: Request) -> Runtime:
    """The Runtime the app was assembled with (server/app.py puts it on app.state)."""
    runtime: Runtime = request.app.state.runtime
    return runtime


def client_address(request: Request) -> str:
    """The client's address: the TCP peer, or, when the peer is one of the
    --trusted-proxies, the right-most X-Forwarded-For address that is not itself a trusted
    proxy (uvicorn's proxy-headers middleware puts it in place of the peer)."""
    return client_address_of(request.scope)


def client_address_of(scope: Scope) -> str:
    """`client_address` for an ASGI scope, for middleware that answers before routing."""
    client = scope.get("client")
    return client[0] if client else "unknown"
