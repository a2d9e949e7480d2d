"""Every failure becomes the Keyfactor error body: never a stack trace, never a bare 500.

Handlers are installed for the domain's errors (the store's StoreUnavailable, a 503, is
one: the store translates database errors, this layer never sees SQLAlchemy's), for
Starlette's routing errors (404, 405); anything else is logged with a reference and answered
with a 500 that names the reference, not the exception.
"""

from __future__ import annotations

import logging
import uuid

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from smtp_profile.domain.errors import DomainError, ErrorKind, Throttled
from smtp_profile.server.authentication import challenge
from smtp_profile.server.product_version import PRODUCT_VERSION, PRODUCT_VERSION_HEADER
from smtp_profile.server.responses import error_response
from smtp_profile.store.secret_box import SecretKeyError

log = logging.getLogger(__name__)


async def _domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    headers: dict[str, str] = {}
    if exc.kind is ErrorKind.UNAUTHENTICATED:
        headers["WWW-Authenticate"] = challenge(request)  # Session, not Basic, for the page
    if isinstance(exc, Throttled):
        headers["Retry-After"] = str(exc.retry_after)
    return error_response(exc.kind, exc.message, headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 405:
        # Starlette names only the methods of the first route that matched the path; GET
        # and PUT /SMTP are separate routes, so the app keeps the full list per path.
        known: dict[str, list[str]] = getattr(request.app.state, "allowed_methods", {})
        allow = ", ".join(known.get(request.url.path, [])) or \
            (exc.headers or {}).get("Allow", "")
        return error_response(
            ErrorKind.METHOD_NOT_ALLOWED,
            f"{request.method} is not allowed on {request.url.path}; use {allow}",
            {"Allow": allow},
        )
    if exc.status_code == 404:
        return error_response(ErrorKind.NOT_FOUND,
                              f"There is no route {request.method} {request.url.path}")
    log.warning("unexpected HTTP error %s on %s", exc.status_code, request.url.path)
    return error_response(ErrorKind.VALIDATION, str(exc.detail))


async def _validation_error(request: Request, exc: Exception) -> Response:
    return error_response(ErrorKind.VALIDATION, "The request is not valid")


async def _key_error(request: Request, exc: Exception) -> Response:
    log.error("secret key problem: %s", exc)
    return error_response(ErrorKind.INTERNAL, f"Stored secrets cannot be opened: {exc}")


async def _unexpected(request: Request, exc: Exception) -> Response:
    reference = uuid.uuid4().hex[:12]
    log.exception("unexpected error %s on %s %s", reference, request.method, request.url.path)
    # Starlette sends this answer from outside every middleware, so the header they add to
    # every other answer is set here.
    return error_response(ErrorKind.INTERNAL,
                          f"An unexpected error occurred (reference {reference}); "
                          "the server log has the details.",
                          {PRODUCT_VERSION_HEADER: PRODUCT_VERSION})


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(SecretKeyError, _key_error)
    app.add_exception_handler(Exception, _unexpected)
