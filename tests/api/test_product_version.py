"""`x-keyfactor-product-version` on every answer: keyfactor-auth-client-go reads it while
it builds a client, kfutil judges features by its major number."""

from __future__ import annotations

import re

import httpx
from fastapi import FastAPI

from smtp_profile.server.api.fast_read import FastReadCounts
from smtp_profile.server.product_version import PRODUCT_VERSION, PRODUCT_VERSION_HEADER
from tests.support.service import REQUESTED_WITH, RunningService


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
