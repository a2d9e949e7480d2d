"""The "API Reference and Utility": Swagger UI served from local files, no CDN.

The service runs on networks without internet access, so the Swagger UI assets come from
the fastapi-offline package instead of a CDN. The page carries a Content-Security-Policy
that allows only this origin's scripts and styles plus the one inline script that starts
Swagger UI (by its hash), and may not be framed: "Try it out" sends requests with the
visitor's credentials, so a framing page must not be able to steer clicks on it.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request
from starlette.responses import HTMLResponse

_ASSETS = Path(fastapi_offline.__file__).parent / "static"
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)


def content_security_policy(page: bytes) -> str:
    """The policy for `page`: its inline scripts allowed by hash, nothing else inline;
    images may be data: URIs (Swagger UI's stylesheet draws its icons with them)."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script).digest()).decode() + "'"
        for script in _INLINE_SCRIPT.findall(page))
    return (f"default-src 'none'; script-src 'self' {hashes}; style-src 'self'; "
            "img-src 'self' data:; connect-src 'self'; base-uri 'none'; "
            "form-action 'self'; frame-ancestors 'none'")


def install(app: FastAPI, *, docs_path: str, openapi_path: str) -> None:
    static_path = f"{docs_path}/static"
    app.mount(static_path, StaticFiles(directory=_ASSETS), name="docs-static")

    @app.get(docs_path, include_in_schema=False)
    async def documentation(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_swagger_ui_html(
            openapi_url=f"{root}{openapi_path}",
            title=f"{app.title}: API Reference and Utility",
            swagger_js_url=f"{root}{static_path}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{static_path}/swagger-ui.css",
            swagger_favicon_url=f"{root}{static_path}/favicon.png",
            swagger_ui_parameters={"persistAuthorization": False},
        )
        page.headers.update({
            "Content-Security-Policy": content_security_policy(bytes(page.body)),
            "X-Frame-Options": "DENY",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        })
        return page
