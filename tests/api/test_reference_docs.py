"""The API reference: an OpenAPI document that describes the routes, and a local docs page."""

from __future__ import annotations

import httpx

from tests.support.service import RunningService


def test_openapi_describes_every_route_header_field_and_error(service: RunningService) -> None:
    document = httpx.get(f"{service.url}/KeyfactorAPI/openapi.json").json()
    paths = document["paths"]
    assert set(paths) >= {"/KeyfactorAPI/SMTP", "/KeyfactorAPI/SMTP/Test",
                          "/KeyfactorAPI/SMTP/Diagnose", "/KeyfactorAPI/SMTP/Status",
                          "/KeyfactorAPI/SMTP/Options"}
    assert set(paths["/KeyfactorAPI/SMTP/Options"]) == {"get", "put"}
    put = paths["/KeyfactorAPI/SMTP"]["put"]
    headers = {p["name"] for p in put["parameters"]}
    assert {"x-keyfactor-requested-with", "x-keyfactor-api-version", "If-Match"} <= headers
    content = put["requestBody"]["content"]
    assert "application/x-www-form-urlencoded" in content
    schemas = document["components"]["schemas"]
    assert "UseSSL" in schemas["ProfileV1In"]["properties"]
    assert "RelayPassword" in schemas["ProfileV2In"]["properties"]
    assert set(schemas["ProfileV2Out"]["properties"]) >= {"ClientSecret", "RequestHeaders"}
    assert schemas["ErrorOut"]["required"] == ["ErrorCode", "Message"]
    for status in ("400", "401", "403", "405", "413", "415", "500", "503"):
        assert put["responses"][status]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorOut"}
    assert document["components"]["securitySchemes"]["basicAuth"]["scheme"] == "basic"
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert document["security"] == [{"bearerAuth": []}, {"basicAuth": []}]
    assert "0xA0110007" in document["info"]["x-error-codes"]


def test_docs_page_is_served_without_a_cdn(service: RunningService) -> None:
    page = httpx.get(f"{service.url}/KeyfactorAPI/Documentation")
    assert page.status_code == 200
    assert "cdn" not in page.text.lower()
    assert "/KeyfactorAPI/Documentation/static/swagger-ui-bundle.js" in page.text
    script = httpx.get(f"{service.url}/KeyfactorAPI/Documentation/static/swagger-ui-bundle.js")
    assert script.status_code == 200 and len(script.content) > 100_000
    root = httpx.get(f"{service.url}/", follow_redirects=False)
    assert root.status_code == 200
    assert 'href="/KeyfactorAPI/Documentation"' in root.text
