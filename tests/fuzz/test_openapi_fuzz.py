"""Property-based fuzzing of the whole API from its own OpenAPI document (schemathesis).

Every generated request (valid and invalid bodies, headers, versions) must get an answer
the document describes, never a 5xx, and a request answered with an error must not have
changed the stored profile or relay options. The web page's session routes, outside the
document, are fuzzed from a description made here. The service only lets Test and Diagnose
reach loopback on a few closed SMTP ports, so fuzzing never leaves this machine.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance
from sqlalchemy import delete

from smtp_profile.domain.outbound import OutboundPolicy, parse_targets
from smtp_profile.server.authentication import SESSION_COOKIE
from smtp_profile.server.keyfactor_headers import BROWSER_REQUESTED_WITH, REQUESTED_WITH
from smtp_profile.server.page.models import SignInIn
from smtp_profile.server.page.session_routes import SESSION_PATH
from smtp_profile.store.database import create_engine_for
from smtp_profile.store.tables import throttle
from tests.support.resolver import StaticResolver
from tests.support.service import RunningService, run_async, service_settings, start_service

# Examples per operation: bounded so CI stays within minutes; raise it for a deeper run,
# e.g. SMTP_PROFILE_FUZZ_EXAMPLES=500 ./scripts/test tests/fuzz
MAX_EXAMPLES = int(os.environ.get("SMTP_PROFILE_FUZZ_EXAMPLES", "15"))


@pytest.fixture(scope="module")
def fuzzed_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    networks, _ = parse_targets("127.0.0.0/8, ::1/128")
    settings = service_settings(
        tmp_path_factory.mktemp("fuzz"),
        outbound=OutboundPolicy(ports=frozenset({25, 465, 587, 2525}), networks=networks),
        connect_timeout=1.0, test_timeout=3.0,
    )
    running = start_service(settings, StaticResolver({"mail.test": ["127.0.0.1"]}))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def api_schema(fuzzed_service: RunningService) -> Any:
    document = httpx.get(f"{fuzzed_service.url}/KeyfactorAPI/openapi.json").json()
    return schemathesis.openapi.from_dict(document)


BASE = "/KeyfactorAPI/SMTP"
OPERATIONS = [("GET", BASE), ("PUT", BASE), ("POST", f"{BASE}/Test"),
              ("POST", f"{BASE}/Diagnose"), ("GET", f"{BASE}/Status"),
              ("GET", f"{BASE}/Options"), ("PUT", f"{BASE}/Options"), ("GET", f"{BASE}/Audit"),
              ("GET", "/KeyfactorAPI/Status/Endpoints"), ("GET", f"{BASE}/OAuth/Credential"),
              ("PUT", f"{BASE}/OAuth/Credential"), ("DELETE", f"{BASE}/OAuth/Credential"),
              ("GET", f"{BASE}/OAuth/ServiceAccount"), ("PUT", f"{BASE}/OAuth/ServiceAccount"),
              ("DELETE", f"{BASE}/OAuth/ServiceAccount"), ("GET", f"{BASE}/ClientCertificate"),
              ("PUT", f"{BASE}/ClientCertificate"), ("DELETE", f"{BASE}/ClientCertificate"),
              ("GET", "/KeyfactorAPI/PamProviders"), ("POST", "/KeyfactorAPI/PamProviders"),
              ("PUT", "/KeyfactorAPI/PamProviders"), ("GET", "/KeyfactorAPI/PamProviders/Types"),
              ("GET", "/KeyfactorAPI/PamProviders/{id}"),
              ("DELETE", "/KeyfactorAPI/PamProviders/{id}")]


def forget_failed_sign_ins(service: RunningService) -> None:
    """Schemathesis checks that bad credentials are refused; its many attempts would get
    127.0.0.1 throttled (correctly) and then every request of the run refused."""

    async def clear() -> None:
        engine = create_engine_for(service.settings.resolved_database_url)
        try:
            async with engine.begin() as connection:
                await connection.execute(delete(throttle))
        finally:
            await engine.dispose()

    run_async(clear())


def snapshot(service: RunningService) -> tuple[Any, Any]:
    with service.client(version=2) as client:
        return (client.get("/KeyfactorAPI/SMTP").json(),
                client.get("/KeyfactorAPI/SMTP/Options").json())


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_the_api_holds_to_its_document(method: str, path: str, api_schema: Any,
                                       fuzzed_service: RunningService) -> None:
    operation = api_schema[path][method]

    @given(case=operation.as_strategy())
    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def holds(case: Any) -> None:
        forget_failed_sign_ins(fuzzed_service)
        before = snapshot(fuzzed_service)
        credentials = base64.b64encode(f"admin:{fuzzed_service.admin_password}".encode())
        response = case.call(base_url=fuzzed_service.url, timeout=30,
                             headers={"Authorization": f"Basic {credentials.decode()}"})
        # Valid requests may still be refused (a test to a closed port is a 400 with the
        # failed step; a target outside the policy a 403), so "valid data is accepted"
        # does not hold for this API; every other built-in check does.
        case.validate_response(response, excluded_checks=[positive_data_acceptance])
        assert response.status_code < 500, response.text
        if response.status_code >= 400:
            assert snapshot(fuzzed_service) == before, (method, path, response.text)

    holds()


def session_document() -> dict[str, Any]:
    """The web page's session routes, which the API's document leaves out (they are not
    Keyfactor's): described here, from the route's own body model, so they are fuzzed
    like the rest."""
    header = {"name": REQUESTED_WITH, "in": "header", "required": False,
              "schema": {"type": "string", "enum": [BROWSER_REQUESTED_WITH, "APIClient", ""]}}
    cookie = {"name": SESSION_COOKIE, "in": "cookie", "required": False,
              "schema": {"type": "string"}}
    answers = {str(status): {"description": "answer"}
               for status in (200, 204, 400, 401, 403, 413, 415, 429)}
    body = SignInIn.model_json_schema(by_alias=True)
    return {
        "openapi": "3.0.3", "info": {"title": "web session", "version": "1"},
        "paths": {SESSION_PATH: {
            "post": {"parameters": [header, cookie], "responses": answers,
                     "requestBody": {"required": True, "content": {
                         "application/json": {"schema": body}}}},
            "get": {"parameters": [header, cookie], "responses": answers},
            "delete": {"parameters": [header, cookie], "responses": answers},
        }},
    }


@pytest.mark.parametrize("method", ["POST", "GET", "DELETE"])
def test_the_web_session_routes_never_answer_a_5xx(method: str,
                                                   fuzzed_service: RunningService) -> None:
    operation = schemathesis.openapi.from_dict(session_document())[SESSION_PATH][method]

    @given(case=operation.as_strategy())
    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def holds(case: Any) -> None:
        forget_failed_sign_ins(fuzzed_service)
        before = snapshot(fuzzed_service)
        response = case.call(base_url=fuzzed_service.url, timeout=30)
        assert response.status_code < 500, response.text
        assert snapshot(fuzzed_service) == before

    holds()
    # and the page's own sign-in still works on the same instance afterwards
    with httpx.Client(base_url=fuzzed_service.url) as client:
        signed_in = client.post(SESSION_PATH, headers={REQUESTED_WITH: BROWSER_REQUESTED_WITH},
                                json={"UserName": "admin",
                                      "Password": fuzzed_service.admin_password})
        assert signed_in.status_code == 200, signed_in.text


def test_the_fuzzed_operations_are_all_the_documented_ones(api_schema: Any) -> None:
    documented = {(op.method.upper(), op.path) for op in
                  (result.ok() for result in api_schema.get_all_operations())}
    assert documented == set(OPERATIONS)
