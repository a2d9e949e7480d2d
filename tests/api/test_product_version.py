"""`x-keyfactor-product-version` on every answer: keyfactor-auth-client-go reads it while
it builds a client, kfutil judges features by its major number."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from fastapi import FastAPI

from smtp_profile.runtime import Runtime, prepare
from smtp_profile.server.api.fast_read import FastReadCounts
from smtp_profile.server.app import create_app
from smtp_profile.server.product_version import PRODUCT_VERSION, PRODUCT_VERSION_HEADER
from smtp_profile.settings import Settings
from tests.support.database import current_database_url
from tests.support.service import REQUESTED_WITH, RunningService, run_async


def test_the_version_is_written_as_command_writes_it() -> None:
    assert re.fullmatch(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+", PRODUCT_VERSION)
    assert int(PRODUCT_VERSION.split(".")[0]) >= 25  # the release whose OpenAPI we match


def test_every_answer_carries_it(service: RunningService) -> None:
    app = service.server.config.app
    assert isinstance(app, FastAPI)
    counts: FastReadCounts = app.state.fast_read
    auth = ("admin", service.admin_password)
    with httpx.Client(base_url=service.url) as client:
        answers = {
            "profile": client.get("/KeyfactorAPI/SMTP", auth=auth, headers=REQUESTED_WITH),
            "fast path": client.get("/KeyfactorAPI/SMTP", auth=auth, headers=REQUESTED_WITH),
            "v2": client.get("/KeyfactorAPI/SMTP", auth=auth,
                             headers={**REQUESTED_WITH, "x-keyfactor-api-version": "2"}),
            "endpoints": client.get("/KeyfactorAPI/Status/Endpoints", auth=auth,
                                    headers=REQUESTED_WITH),
            "bad PUT": client.put("/KeyfactorAPI/SMTP", auth=auth, content=b"{",
                                  headers={**REQUESTED_WITH,
                                           "content-type": "application/json"}),
            "no header": client.get("/KeyfactorAPI/SMTP", auth=auth),
            "401": client.get("/KeyfactorAPI/SMTP", headers=REQUESTED_WITH),
            "404": client.get("/KeyfactorAPI/NoSuchRoute"),
            "405": client.delete("/KeyfactorAPI/SMTP", auth=auth, headers=REQUESTED_WITH),
            "page": client.get("/"),
            "static": client.get("/web/static/index.html"),
            "docs": client.get("/KeyfactorAPI/Documentation"),
            "openapi": client.get("/KeyfactorAPI/openapi.json"),
            "health": client.get("/healthz"),
        }
    assert counts.answered >= 1  # the second GET took the fast path
    statuses = {name: answer.status_code for name, answer in answers.items()}
    assert statuses == {"profile": 200, "fast path": 200, "v2": 200, "endpoints": 200,
                        "bad PUT": 400, "no header": 400, "401": 401, "404": 404, "405": 405,
                        "page": 200, "static": 200, "docs": 200, "openapi": 200,
                        "health": 200}
    for name, answer in answers.items():
        assert answer.headers.get_list(PRODUCT_VERSION_HEADER) == [PRODUCT_VERSION], name


def test_an_unexpected_error_carries_it_too(tmp_path: Path) -> None:
    """Starlette answers an unexpected exception from outside every middleware."""
    settings = Settings(data_dir=tmp_path / "d", database_url=current_database_url())
    prepare(settings)
    runtime = Runtime.open(settings)
    app = create_app(runtime)

    async def broken() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/broken", broken)

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get("/broken")

    try:
        answer = run_async(get())
    finally:
        run_async(runtime.close())
    assert answer.status_code == 500
    assert answer.json()["ErrorCode"] == "0xA0110020"
    assert answer.headers.get_list(PRODUCT_VERSION_HEADER) == [PRODUCT_VERSION]
