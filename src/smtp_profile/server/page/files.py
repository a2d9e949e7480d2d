"""Serving the page: one HTML document at `/` and its static files, no CDN, no build step.

The HTML names the API base path (it is configurable), so the script needs no guessing.
A strict Content-Security-Policy allows only this origin's own script and style, which
makes an injected `<script>` or inline handler inert.
"""

from __future__ import annotations

import html
import json
from importlib import resources

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse, Response

from smtp_profile.domain.presets import PRESETS

STATIC_PATH = "/web/static"
_STATIC = resources.files("smtp_profile.server.page") / "static"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def render_index(api_base: str) -> str:
    template = (_STATIC / "index.html").read_text(encoding="utf-8")
    return (template.replace("{{API_BASE}}", html.escape(api_base, quote=True))
            .replace("{{STATIC}}", STATIC_PATH)
            .replace("{{PRESETS}}", presets_json()))


def presets_json() -> str:
    """The provider presets (domain/presets.py) as JSON safe inside a <script> element:
    the page's select reads them, so the page and the CLI share one set of facts."""
    text = json.dumps([preset.to_json() for preset in PRESETS], separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def install(app: FastAPI, *, api_base: str) -> None:
    page = render_index(api_base)
    app.mount(STATIC_PATH, StaticFiles(directory=str(_STATIC)), name="web-static")

    @app.get("/", include_in_schema=False)
    async def index() -> Response:
        return HTMLResponse(page, headers=SECURITY_HEADERS)
