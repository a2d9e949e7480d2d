"""The ASGI application: routes under the base path, docs, errors, case-insensitive paths."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from enum import Enum

from fastapi import APIRouter, FastAPI
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import Receive, Scope, Send

from smtp_profile import __version__
from smtp_profile.runtime import Runtime
from smtp_profile.server.answer_headers import AnswerHeaders
from smtp_profile.server.api import docs, openapi
from smtp_profile.server.api.audit_routes import router as audit_router
from smtp_profile.server.api.client_certificate_routes import (
    router as client_certificate_router,
)
from smtp_profile.server.api.diagnostics_routes import router as diagnostics_router
from smtp_profile.server.api.fast_read import FastProfileRead, FastReadCounts
from smtp_profile.server.api.oauth_credential_routes import router as oauth_credential_router
from smtp_profile.server.api.pam_routes import router as pam_router
from smtp_profile.server.api.service_account_routes import router as service_account_router
from smtp_profile.server.api.smtp_routes import router as smtp_router
from smtp_profile.server.api.status_routes import catalogue
from smtp_profile.server.api.status_routes import router as status_router
from smtp_profile.server.errors import install_error_handlers
from smtp_profile.server.page import files as web_page
from smtp_profile.server.page.session_routes import router as web_session_router
from smtp_profile.server.paths import CaseInsensitivePaths
from smtp_profile.store.secret_box import SecretKeyError

log = logging.getLogger(__name__)

DESCRIPTION = """\
Keyfactor Command-compatible SMTP profile API (versions 1 and 2).

Every call needs `x-keyfactor-requested-with: APIClient` and HTTP Basic credentials;
`x-keyfactor-api-version: 2` selects version 2. Errors are
`{"ErrorCode": "0x...", "Message": "..."}`; the codes are listed under `x-error-codes`.
"""


API_ROUTERS: tuple[tuple[APIRouter, list[str | Enum]], ...] = (
    (smtp_router, ["SMTP"]),
    (diagnostics_router, ["Diagnostics (extension)"]),
    (audit_router, ["Audit (extension)"]),
    (client_certificate_router, ["Client certificate (extension)"]),
    (oauth_credential_router, ["OAuth (extension)"]),
    (service_account_router, ["Service account (extension)"]),
    (status_router, ["Status"]),
    (pam_router, ["PAM providers"]),
)
"""Every API route module, under the base path: once here, so the routes, their 405
Allow lists and `GET /Status/Endpoints` can never disagree about which exist."""


class ServiceApp(FastAPI):
    """FastAPI with GET /SMTP's fast path in front of its whole stack: the read the
    platform makes for every mail pays for no middleware and no routing when the fast
    path can answer (server/api/fast_read.py); every other request is FastAPI's."""

    fast_read: FastProfileRead | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        fast = self.fast_read
        if fast is not None and await fast.answered(scope, send):
            return
        await super().__call__(scope, receive, send)


def create_app(runtime: Runtime) -> ServiceApp:
    """The service as an ASGI app; `runtime.close()` runs when the app shuts down."""
    base = runtime.settings.normalized_base_path

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:  # several instances must share one key: refuse to serve with another one
            await runtime.profiles.load()
        except SecretKeyError as exc:
            log.error("the stored SMTP secrets do not open with this instance's key (%s); "
                      "give every instance the same SMTP_PROFILE_SECRET_KEY", exc)
            await runtime.close()
            raise
        await runtime.snapshots.start()
        created = await runtime.accounts.ensure_initial_admin(runtime.settings.data_dir)
        if created is not None:
            message = (f"Created user 'admin' with every permission; its password is in "
                       f"{created.resolve()}")
            log.warning(message)
            print(message, flush=True)
        await runtime.audit.prune()
        pruning = asyncio.create_task(runtime.audit.prune_periodically(), name="audit-pruning")
        upkeep = asyncio.create_task(runtime.sign_in.maintain_periodically(),
                                     name="sign-in-upkeep")
        try:
            yield
        finally:
            for task in (pruning, upkeep):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await runtime.close()

    app = ServiceApp(
        title="smtp-profile",
        version=__version__,
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        openapi_url=f"{base}/openapi.json",
        redirect_slashes=False,
        lifespan=lifespan,
        # No OpenTelemetry here: FastAPI's native telemetry would otherwise ask, on
        # every request, whether a provider was configured (a tenth of a fast GET).
        telemetry={"tracing": False, "metrics": False, "logs": False,
                   "operation_spans": False},
    )
    app.state.runtime = runtime
    install_error_handlers(app)
    for router, tags in API_ROUTERS:
        app.include_router(router, prefix=base, tags=tags)
    docs.install(app, docs_path=f"{base}/Documentation", openapi_path=f"{base}/openapi.json")
    app.include_router(web_session_router)
    web_page.install(app, api_base=base)
    openapi.install(app)

    @app.get("/healthz", include_in_schema=False)
    async def health() -> Response:
        return JSONResponse({"Status": "ok"})

    allowed: dict[str, list[str]] = {}
    for prefix, router in (*((base, r) for r, _ in API_ROUTERS), ("", web_session_router)):
        for route in router.routes:
            if isinstance(route, Route):
                allowed.setdefault(prefix + route.path, []).extend(sorted(route.methods or ()))
    app.state.allowed_methods = allowed
    app.state.endpoints = catalogue(*(router for router, _ in API_ROUTERS))
    paths = [r.path for r in app.routes if isinstance(r, Route | Mount)]
    paths += list(allowed)
    app.add_middleware(CaseInsensitivePaths, canonical_paths=paths)
    # The last added is outermost: every answer of the framework passes it (the fast
    # path's answers carry the same headers, completed once per stored answer).
    app.add_middleware(AnswerHeaders)
    app.state.fast_read = FastReadCounts()
    app.fast_read = FastProfileRead(runtime, path=f"{base}/SMTP", counts=app.state.fast_read)
    return app
