"""GET /KeyfactorAPI/Status/Endpoints: Keyfactor's list of what the caller may call."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.support.service import (
    REQUESTED_WITH,
    RunningService,
    add_user,
    service_settings,
    start_service,
)

ENDPOINTS = "/KeyfactorAPI/Status/Endpoints"

READS = ["GET /SMTP", "GET /SMTP/Audit", "GET /SMTP/ClientCertificate", "GET /SMTP/Options",
         "GET /SMTP/Status", "GET /Status/Endpoints", "GET /SMTP/OAuth/Credential",
         "GET /SMTP/OAuth/ServiceAccount", "GET /PamProviders", "GET /PamProviders/Types",
         "GET /PamProviders/{id}"]
MODIFIES = ["PUT /SMTP", "PUT /SMTP/ClientCertificate", "DELETE /SMTP/ClientCertificate",
            "POST /SMTP/Diagnose", "PUT /SMTP/Options", "POST /SMTP/Test",
            "PUT /SMTP/OAuth/Credential", "DELETE /SMTP/OAuth/Credential",
            "PUT /SMTP/OAuth/ServiceAccount", "DELETE /SMTP/OAuth/ServiceAccount",
            "POST /PamProviders", "PUT /PamProviders", "DELETE /PamProviders/{id}"]


def error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"ErrorCode", "Message"}
    assert body["ErrorCode"] == code, body
    return str(body["Message"])


@pytest.mark.parametrize("version", [None, "1", "2", "2.0"])
def test_an_admin_gets_every_route_as_a_json_array_of_strings(service: RunningService,
                                                             version: str | None) -> None:
    headers = {} if version is None else {"x-keyfactor-api-version": version}
    with service.client() as client:
        response = client.get(ENDPOINTS, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    body = response.json()
    assert isinstance(body, list) and all(isinstance(entry, str) for entry in body)
    assert sorted(body) == sorted(READS + MODIFIES)
    assert body.index("GET /SMTP") < body.index("PUT /SMTP") < body.index("POST /SMTP/Test")


def test_the_list_follows_the_callers_permissions(service: RunningService) -> None:
    add_user(service.settings, "reader", "reader-password", "/system_settings/read/")
    add_user(service.settings, "writer", "writer-password", "/system_setting/modify/")
    add_user(service.settings, "nobody", "nobody-password")
    with service.client("reader", "reader-password") as client:
        assert sorted(client.get(ENDPOINTS).json()) == sorted(READS)
    with service.client("writer", "writer-password") as client:
        assert sorted(client.get(ENDPOINTS).json()) == sorted(
            [*MODIFIES, "GET /Status/Endpoints"])
    with service.client("nobody", "nobody-password") as client:
        assert client.get(ENDPOINTS).json() == ["GET /Status/Endpoints"]


def test_failures_then_success_on_the_same_instance(service: RunningService) -> None:
    url = service.url + ENDPOINTS
    auth = ("admin", service.admin_password)
    message = error(httpx.get(url, auth=auth), 400, "0xA0110003")
    assert "x-keyfactor-requested-with" in message
    error(httpx.get(url, auth=auth, headers={**REQUESTED_WITH, "x-keyfactor-api-version": "3"}),
          400, "0xA0110004")
    refused = httpx.get(url, headers=REQUESTED_WITH)
    error(refused, 401, "0xA0110010")
    assert refused.headers["www-authenticate"].startswith("Basic")
    error(httpx.get(url, auth=("admin", "wrong-password"), headers=REQUESTED_WITH),
          401, "0xA0110010")
    error(httpx.post(url, auth=auth, headers=REQUESTED_WITH), 405, "0xA0110013")
    answer = httpx.get(url, auth=auth, headers=REQUESTED_WITH)
    assert answer.status_code == 200
    assert "GET /SMTP" in answer.json()


def test_paths_match_case_insensitively_with_a_trailing_slash(service: RunningService) -> None:
    with service.client() as client:
        for path in ("/keyfactorapi/status/endpoints", ENDPOINTS + "/"):
            assert client.get(path).status_code == 200, path


def test_a_read_is_not_audited_but_a_failed_sign_in_is(service: RunningService) -> None:
    with service.client() as client:
        before = client.get("/KeyfactorAPI/SMTP/Audit").json()
        assert client.get(ENDPOINTS).status_code == 200
        assert client.get("/KeyfactorAPI/SMTP/Audit").json() == before
    httpx.get(service.url + ENDPOINTS, auth=("admin", "wrong-password"), headers=REQUESTED_WITH)
    with service.client() as client:
        records = client.get("/KeyfactorAPI/SMTP/Audit").json()
    assert len(records) == len(before) + 1
    assert "Status/Endpoints" in str(records[0])


def test_the_list_is_under_the_configured_base_path(tmp_path: Path) -> None:
    running = start_service(service_settings(tmp_path / "d", base_path="/Other/API"))
    try:
        with running.client() as client:
            assert client.get(ENDPOINTS).status_code == 404
            answer = client.get("/Other/API/Status/Endpoints")
        assert answer.status_code == 200
        assert sorted(answer.json()) == sorted(READS + MODIFIES)
    finally:
        running.stop()


def test_the_openapi_document_declares_it(service: RunningService) -> None:
    document = httpx.get(service.url + "/KeyfactorAPI/openapi.json").json()
    operation = document["paths"]["/KeyfactorAPI/Status/Endpoints"]["get"]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {"type": "array", "items": {"type": "string"}}
    assert {p["name"] for p in operation["parameters"]} >= {"x-keyfactor-requested-with",
                                                            "x-keyfactor-api-version"}
    assert {"400", "401", "429"} <= set(operation["responses"])
