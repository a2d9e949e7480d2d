"""The "API Reference and Utility": Swagger UI served from local files, no CDN.

The service runs on networks without internet access, so the Swagger UI assets come from
the fastapi-offline package instead of a CDN.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request
from starlette.responses import HTMLResponse

_ASSETS = Path(fastapi_offline.__file__).parent / "static"


def install(app: FastAPI, *, docs_path: str, openapi_path: str) -> None:
    static_path = f"{docs_path}/static"
    app.mount(static_path, StaticFiles(directory=_ASSETS), name="docs-static")

    @app.get(docs_path, include_in_schema=False)
    async def documentation(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{openapi_path}",
            title=f"{app.title}: API Reference and Utility",
            swagger_js_url=f"{root}{static_path}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{static_path}/swagger-ui.css",
            swagger_favicon_url=f"{root}{static_path}/favicon.png",
            swagger_ui_parameters={"persistAuthorization": False},
        )
