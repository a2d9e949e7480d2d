"""GET/PUT /SMTP through real HTTP: shapes, versions, headers, auth, validation, secrets."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.support.database import query, raw_contents
from tests.support.service import RunningService, add_user, start_service
from tests.support.smtp import SmtpServer

CANARY = "Canary-Pa55word-7f3c9e"

V1_KEYS = ["Host", "Id", "Port", "RelayAuthenticationType", "RelayUsername", "SenderAccount",
           "SenderName", "UseSSL"]
V2_KEYS = ["Host", "Id", "Port", "RelayAuthenticationType", "RelayUsername", "RelayPassword",
           "SenderAccount", "SenderName", "UseSSL", "ClientId", "ClientSecret", "TokenEndpoint",
           "Scope", "Audience", "RequestHeaders"]

BASIC_V1: dict[str, Any] = {
    "Id": 1, "Host": "mail.test", "Port": 2525, "RelayAuthenticationType": 2,
    "RelayUsername": "KEYEXAMPLE\\svc_mail", "RelayPassword": CANARY,
    "SenderAccount": "svc_mail@corp.local", "SenderName": "Keyfactor Command", "UseSSL": False,
}


def error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"ErrorCode", "Message"}
    assert body["ErrorCode"] == code, body
    assert response.headers["content-type"].startswith("application/json")
    return str(body["Message"])


def stored(service: RunningService) -> dict[str, Any]:
    with service.client(version=2) as client:
        body: dict[str, Any] = client.get("/KeyfactorAPI/SMTP").json()
        return body


# -- shapes --------------------------------------------------------------------------------

def test_first_get_returns_the_seeded_profile_in_v1_shape(service: RunningService) -> None:
    with service.client() as client:
        response = client.get("/KeyfactorAPI/SMTP")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    body = response.json()
    assert list(body) == V1_KEYS
    assert body == {"Host": None, "Id": 1, "Port": 25, "RelayAuthenticationType": 0,
                    "RelayUsername": None, "SenderAccount": None, "SenderName": None,
                    "UseSSL": False}


@pytest.mark.parametrize("version", ["2", "2.0"])
def test_v2_get_has_secret_objects_and_explicit_nulls(service: RunningService,
                                                      version: str) -> None:
    with service.client() as client:
        client.put("/KeyfactorAPI/SMTP", json=BASIC_V1).raise_for_status()
        response = client.get("/KeyfactorAPI/SMTP",
                              headers={"x-keyfactor-api-version": version})
    body = response.json()
    assert list(body) == V2_KEYS
    assert body["RelayUsername"] == {"SecretValue": "KEYEXAMPLE\\svc_mail", "Provider": None,
                                     "Parameters": None}
    assert body["RelayPassword"] is None
    assert body["ClientSecret"] is None
    assert CANARY not in response.text


@pytest.mark.parametrize("version", [None, "1", "1.0"])
def test_v1_is_the_default_and_accepts_its_spellings(service: RunningService,
                                                     version: str | None) -> None:
    headers = {"x-keyfactor-api-version": version} if version else {}
    with service.client() as client:
        response = client.get("/KeyfactorAPI/SMTP", headers=headers)
    assert list(response.json()) == V1_KEYS


@pytest.mark.parametrize("path",
                         ["/keyfactorapi/smtp", "/KEYFACTORAPI/Smtp", "/KeyfactorAPI/SMTP/"])
def test_routes_match_case_insensitively_without_redirects(service: RunningService,
                                                           path: str) -> None:
    with service.client() as client:
        response = client.get(path, follow_redirects=False)
    assert response.status_code == 200
    assert response.json()["Id"] == 1


def test_put_v1_returns_the_stored_profile_without_the_password(service: RunningService) -> None:
    with service.client() as client:
        response = client.put("/KeyfactorAPI/SMTP", json=BASIC_V1)
    assert response.status_code == 200, response.text
    body = response.json()
    assert list(body) == V1_KEYS
    assert body["Host"] == "mail.test"
    assert body["RelayUsername"] == "KEYEXAMPLE\\svc_mail"
    assert CANARY not in response.text
    assert stored(service)["Port"] == 2525


def test_put_v1_accepts_camel_case_keys(service: RunningService) -> None:
    body = {key[0].lower() + key[1:]: value for key, value in BASIC_V1.items()}
    body["useSSL"] = body.pop("useSSL")
    with service.client() as client:
        response = client.put("/KeyfactorAPI/SMTP", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["SenderName"] == "Keyfactor Command"


def test_put_v1_form_body_as_a_generated_client_sends_it(service: RunningService) -> None:
    form = ("Host=127.0.0.1&Id=1&Port=2526&RelayAuthenticationType=0&RelayUsername="
            "&SenderAccount=kf%40corp.local&SenderName=KF+client&UseSSL=false")
    with service.client() as client:
        response = client.put("/KeyfactorAPI/SMTP", content=form,
                              headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 200, response.text
    assert response.json() == {"Host": "127.0.0.1", "Id": 1, "Port": 2526,
                               "RelayAuthenticationType": 0, "RelayUsername": None,
                               "SenderAccount": "kf@corp.local", "SenderName": "KF client",
                               "UseSSL": False}


def test_form_bodies_are_refused_in_v2(service: RunningService) -> None:
    with service.client(version=2) as client:
        response = client.put("/KeyfactorAPI/SMTP", content="Host=a",
                              headers={"content-type": "application/x-www-form-urlencoded"})
    error(response, 415, "0xA0110016")


def test_put_v2_with_secret_objects(service: RunningService) -> None:
    body = {"Host": "mail.test", "Port": 587, "RelayAuthenticationType": 2,
            "RelayUsername": {"SecretValue": "svc_mail@corp.local"},
            "RelayPassword": {"SecretValue": CANARY},
            "SenderAccount": "svc_mail@corp.local", "SenderName": "Keyfactor Command",
            "UseSSL": True}
    with service.client(version=2) as client:
        response = client.put("/KeyfactorAPI/SMTP", json=body)
    assert response.status_code == 200, response.text
    assert list(response.json()) == V2_KEYS
    assert response.json()["UseSSL"] is True
    assert CANARY not in response.text


def test_v1_put_defaults_port_to_25_and_v2_requires_it(service: RunningService) -> None:
    body = {k: v for k, v in BASIC_V1.items() if k != "Port"}
    with service.client() as client:
        assert client.put("/KeyfactorAPI/SMTP", json=body).json()["Port"] == 25
    v2_body = {"Host": "mail.test", "SenderAccount": "a@corp.local", "SenderName": "n"}
    with service.client(version=2) as client:
        message = error(client.put("/KeyfactorAPI/SMTP", json=v2_body), 400, "0xA0110001")
    assert "Port is required" in message


# -- headers and authentication ----------------------------------------------------------

def test_missing_requested_with_header_is_a_400(service: RunningService) -> None:
    with service.client(requested_with=False) as client:
        message = error(client.get("/KeyfactorAPI/SMTP"), 400, "0xA0110003")
    assert "x-keyfactor-requested-with" in message


@pytest.mark.parametrize("version", ["3", "1.1", "two", ""])
def test_unknown_api_version_is_a_400(service: RunningService, version: str) -> None:
    with service.client() as client:
        response = client.get("/KeyfactorAPI/SMTP", headers={"x-keyfactor-api-version": version})
    error(response, 400, "0xA0110004")


def test_missing_or_wrong_credentials_are_a_401_with_a_challenge(service: RunningService) -> None:
    with httpx.Client(base_url=service.url, headers={"x-keyfactor-requested-with": "APIClient"}) \
            as anonymous:
        response = anonymous.get("/KeyfactorAPI/SMTP")
    error(response, 401, "0xA0110010")
    assert response.headers["www-authenticate"].startswith("Basic")
    with service.client(password="wrong-password") as client:
        response = client.get("/KeyfactorAPI/SMTP")
    error(response, 401, "0xA0110010")
    assert "www-authenticate" in response.headers


def test_domain_prefixed_user_names_are_accepted(service: RunningService) -> None:
    token = base64.b64encode(f"KEYEXAMPLE\\admin:{service.admin_password}".encode()).decode()
    with httpx.Client(base_url=service.url) as client:
        response = client.get("/KeyfactorAPI/SMTP", headers={
            "authorization": f"Basic {token}", "x-keyfactor-requested-with": "XMLHttpRequest"})
    assert response.status_code == 200


def test_configured_auth_domain_must_match(tmp_path: Any, ca_bundle: Any) -> None:
    from tests.support.service import service_settings

    running = start_service(service_settings(tmp_path / "d", ca_bundle, auth_domain="CORP"))
    try:
        password = running.admin_password
        for user, status in ((r"CORP\admin", 200), (r"corp\admin", 200), (r"OTHER\admin", 401)):
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            with httpx.Client(base_url=running.url) as client:
                response = client.get("/KeyfactorAPI/SMTP", headers={
                    "authorization": f"Basic {token}", "x-keyfactor-requested-with": "APIClient"})
            assert response.status_code == status, user
    finally:
        running.stop()


def test_permissions_gate_each_route(service: RunningService) -> None:
    add_user(service.settings, "reader", "reader-password", "/system_settings/read/")
    add_user(service.settings, "writer", "writer-password", "/system_setting/modify/")
    with service.client("reader", "reader-password") as reader:
        assert reader.get("/KeyfactorAPI/SMTP").status_code == 200
        message = error(reader.put("/KeyfactorAPI/SMTP", json=BASIC_V1), 403, "0xA0110011")
        assert "/system_settings/modify/" in message
        error(reader.post("/KeyfactorAPI/SMTP/Test", json={}), 403, "0xA0110011")
    with service.client("writer", "writer-password") as writer:
        error(writer.get("/KeyfactorAPI/SMTP"), 403, "0xA0110011")
        assert writer.put("/KeyfactorAPI/SMTP", json=BASIC_V1).status_code == 200


# -- validation: a clear 400 and nothing stored ---------------------------------------------

@pytest.mark.parametrize(("change", "field"), [
    ({"Host": None}, "Host is required"),
    ({"Host": "bad host"}, "Host"),
    ({"Host": "exa mple.com"}, "Host"),
    ({"Host": "-bad-.example"}, "Host"),
    ({"Host": "a" * 64 + ".example"}, "Host"),
    ({"Port": 0}, "Port must be between 1 and 65535"),
    ({"Port": 65536}, "Port must be between 1 and 65535"),
    ({"Port": -1}, "Port"),
    ({"Port": "25.5"}, "Port: must be a whole number"),
    ({"Port": 25.5}, "Port: must be a whole number"),
    ({"UseSSL": "yes"}, "UseSSL: must be true or false"),
    ({"SenderAccount": None}, "SenderAccount is required"),
    ({"SenderAccount": "not-an-address"}, "SenderAccount"),
    ({"SenderAccount": "a@b@c"}, "SenderAccount"),
    ({"SenderAccount": "evil@corp.local\r\nBcc: victim@x.test"}, "SenderAccount"),
    ({"SenderName": ""}, "SenderName is required"),
    ({"SenderName": "Name\r\nBcc: victim@x.test"}, "SenderName must not contain line breaks"),
    ({"SenderName": "Name\x00"}, "SenderName"),
    ({"RelayUsername": None}, "RelayUsername is required"),
    ({"RelayPassword": "pa\nss"}, "RelayPassword"),
    ({"RelayAuthenticationType": 5}, "RelayAuthenticationType must be 0 (Anonymous), 2"),
    ({"Id": 2}, "Id must be 1"),
    ({"Unexpected": "a\r\nBcc: x@y.test"}, "Unexpected must not contain line breaks"),
])
def test_invalid_fields_are_named_and_nothing_is_stored(service: RunningService,
                                                        change: dict[str, Any],
                                                        field: str) -> None:
    before = stored(service)
    body = {**BASIC_V1, **change}
    with service.client() as client:
        message = error(client.put("/KeyfactorAPI/SMTP", json=body), 400, "0xA0110001")
    assert field in message
    assert stored(service) == before


@pytest.mark.parametrize(("auth_type", "wording"), [(1, "not supported"), (4, "not supported")])
def test_unsupported_auth_types_are_refused_clearly(service: RunningService, auth_type: int,
                                                    wording: str) -> None:
    with service.client() as client:
        message = error(client.put("/KeyfactorAPI/SMTP",
                                   json={**BASIC_V1, "RelayAuthenticationType": auth_type}),
                        400, "0xA0110005")
    assert wording in message


def test_a_reference_to_an_unknown_pam_provider_is_refused(service: RunningService) -> None:
    body = {"Host": "mail.test", "Port": 587, "RelayAuthenticationType": 2,
            "RelayUsername": {"SecretValue": "svc"},
            "RelayPassword": {"Provider": "1", "Parameters": {"SecretName": "smtp"}},
            "SenderAccount": "svc@corp.local", "SenderName": "KF"}
    with service.client(version=2) as client:
        message = error(client.put("/KeyfactorAPI/SMTP", json=body), 400, "0xA0110001")
    assert "RelayPassword.Provider: no PAM provider has the Id 1" in message


@pytest.mark.parametrize(("content", "content_type", "status", "code"), [
    (b"{not json", "application/json", 400, "0xA0110002"),
    (b"[]", "application/json", 400, "0xA0110002"),
    (b"null", "application/json", 400, "0xA0110002"),
    (b"", "application/json", 400, "0xA0110002"),
    (b'{"Host": "a", "Host": "b"}', "application/json", 400, "0xA0110002"),
    (b'{"Host": "a", "host": "b"}', "application/json", 400, "0xA0110002"),
    (b'{"Port": NaN}', "application/json", 400, "0xA0110002"),
    (b'{"Host": "\xff"}', "application/json", 400, "0xA0110002"),
    (b"[" * 100000, "application/json", 413, "0xA0110015"),
    (b"<SMTP/>", "application/xml", 415, "0xA0110016"),
    (b"{}", "", 415, "0xA0110016"),
])
def test_malformed_bodies_get_the_error_body(service: RunningService, content: bytes,
                                             content_type: str, status: int, code: str) -> None:
    before = stored(service)
    with service.client() as client:
        response = client.put("/KeyfactorAPI/SMTP", content=content,
                              headers={"content-type": content_type})
    error(response, status, code)
    assert stored(service) == before


def test_deeply_nested_json_is_refused_not_crashed(service: RunningService) -> None:
    with service.client() as client:
        response = client.put("/KeyfactorAPI/SMTP", content=b"[" * 20000 + b"]" * 20000,
                              headers={"content-type": "application/json"})
    error(response, 400, "0xA0110002")


def test_unknown_routes_and_methods_get_the_error_body(service: RunningService) -> None:
    with service.client() as client:
        error(client.get("/KeyfactorAPI/Nope"), 404, "0xA0110012")
        response = client.delete("/KeyfactorAPI/SMTP")
        error(response, 405, "0xA0110013")
        assert "GET" in response.headers["allow"]
        error(client.get("/KeyfactorAPI/SMTP/Test"), 405, "0xA0110013")


# -- the stored password: bound to its destination, never echoed ---------------------------

def test_absent_password_keeps_the_stored_one_for_the_same_destination(
        service: RunningService) -> None:
    without = {k: v for k, v in BASIC_V1.items() if k != "RelayPassword"}
    with service.client() as client:
        client.put("/KeyfactorAPI/SMTP", json=BASIC_V1).raise_for_status()
        response = client.put("/KeyfactorAPI/SMTP",
                              json={**without, "SenderName": "Renamed", "RelayPassword": None})
    assert response.status_code == 200, response.text
    assert service.runtime_password() == CANARY


@pytest.mark.parametrize(("change", "field"), [
    ({"Host": "other.test"}, "Host"),
    ({"Port": 587}, "Port"),
    ({"UseSSL": True}, "UseSSL"),
    ({"RelayUsername": "someone-else"}, "RelayUsername"),
])
def test_changing_the_destination_requires_the_password_again(
        service: RunningService, change: dict[str, Any], field: str) -> None:
    without = {k: v for k, v in BASIC_V1.items() if k != "RelayPassword"}
    with service.client() as client:
        client.put("/KeyfactorAPI/SMTP", json=BASIC_V1).raise_for_status()
        before = stored(service)
        message = error(client.put("/KeyfactorAPI/SMTP", json={**without, **change}),
                        400, "0xA0110007")
        assert field in message and "re-entered" in message
        assert stored(service) == before
        response = client.put("/KeyfactorAPI/SMTP",
                              json={**without, **change, "RelayPassword": "new-password"})
    assert response.status_code == 200, response.text


def test_host_spelling_differences_do_not_count_as_a_new_destination(
        service: RunningService) -> None:
    without = {k: v for k, v in BASIC_V1.items() if k != "RelayPassword"}
    with service.client() as client:
        client.put("/KeyfactorAPI/SMTP", json=BASIC_V1).raise_for_status()
        response = client.put("/KeyfactorAPI/SMTP", json={**without, "Host": "MAIL.test."})
    assert response.status_code == 200, response.text


def test_basic_without_any_stored_password_is_refused(service: RunningService) -> None:
    without = {k: v for k, v in BASIC_V1.items() if k != "RelayPassword"}
    with service.client() as client:
        message = error(client.put("/KeyfactorAPI/SMTP", json=without), 400, "0xA0110001")
    assert "RelayPassword is required" in message


def test_switching_to_anonymous_erases_the_credentials(service: RunningService) -> None:
    without = {k: v for k, v in BASIC_V1.items() if k != "RelayPassword"}
    with service.client() as client:
        client.put("/KeyfactorAPI/SMTP", json=BASIC_V1).raise_for_status()
        anonymous = client.put("/KeyfactorAPI/SMTP",
                               json={**without, "RelayAuthenticationType": 0})
        assert anonymous.json()["RelayUsername"] is None
        assert service.runtime_password() is None
        message = error(client.put("/KeyfactorAPI/SMTP", json=without), 400, "0xA0110001")
    assert "RelayPassword is required" in message


# -- persistence and encryption at rest ----------------------------------------------------

def test_profile_survives_a_restart_and_the_password_is_sealed_on_disk(
        service: RunningService) -> None:
    with service.client() as client:
        client.put("/KeyfactorAPI/SMTP", json=BASIC_V1).raise_for_status()
    service.stop()
    restarted = start_service(service.settings)
    try:
        with restarted.client() as client:
            body = client.get("/KeyfactorAPI/SMTP").json()
        assert body["Host"] == "mail.test" and body["RelayAuthenticationType"] == 2
        assert restarted.runtime_password() == CANARY
    finally:
        restarted.stop()
    data_dir = service.settings.data_dir
    for path in data_dir.iterdir():
        assert CANARY.encode() not in path.read_bytes(), path
        assert base64.b64encode(CANARY.encode()) not in path.read_bytes(), path
    contents = raw_contents(service.settings)
    canary = CANARY.encode()
    for form in (canary, base64.b64encode(canary), canary.hex().encode()):
        assert form not in contents
    ((sealed,),) = query(service.settings.resolved_database_url,
                         "select password_sealed from smtp_profile")
    assert sealed is not None and sealed[:1] == b"\x01" and len(sealed) > len(CANARY)


def test_etag_and_if_match(service: RunningService) -> None:
    with service.client() as client:
        first = client.get("/KeyfactorAPI/SMTP")
        etag = first.headers["etag"]
        updated = client.put("/KeyfactorAPI/SMTP", json=BASIC_V1, headers={"if-match": etag})
        assert updated.status_code == 200
        assert updated.headers["etag"] != etag
        stale = client.put("/KeyfactorAPI/SMTP", json={**BASIC_V1, "SenderName": "Stale"},
                           headers={"if-match": etag})
    error(stale, 412, "0xA0110014")
    assert stored(service)["SenderName"] == "Keyfactor Command"


# -- tolerant reading, as Keyfactor's server reads (issue 15) ------------------------------

IGNORED_CANARY = "Ignored-Canary-0b7d21"


def test_keyfactor_bodies_are_read_as_keyfactors_server_reads_them(
        service: RunningService, caplog: pytest.LogCaptureFixture) -> None:
    """What stays refused first, then on the same instance: unknown properties ignored
    (never stored, echoed or logged by value), numbers and booleans as strings, null
    Parameters; the answers keep Keyfactor's exact shapes."""
    caplog.set_level(logging.DEBUG)
    before = stored(service)
    loose_v1 = {**BASIC_V1, "Port": " 2526 ", "Id": "1", "RelayAuthenticationType": "2",
                "UseSSL": "False", "Unknown": IGNORED_CANARY, "Nested": {"a": [IGNORED_CANARY]}}
    with service.client() as v1, service.client(version=2) as v2:
        for change, wording in (({"Port": "25.5"}, "Port: must be a whole number"),
                                ({"UseSSL": "yes"}, "UseSSL: must be true or false"),
                                ({"UseSSL": 1}, "UseSSL: must be true or false"),
                                ({"Unknown": "a\r\nb"}, "Unknown must not contain line breaks")):
            assert wording in error(v1.put("/KeyfactorAPI/SMTP", json={**loose_v1, **change}),
                                    400, "0xA0110001")
        pam = {"SecretValue": "x", "Provider": 1, "Parameters": {"SecretName": None}}
        error(v2.put("/KeyfactorAPI/SMTP", json={**loose_v1, "RelayUsername": {"SecretValue": "u"},
                                                 "RelayPassword": pam}), 400, "0xA0110001")
        unknown_option = v1.put("/KeyfactorAPI/SMTP/Options", json={"PinnedSha265": "ab" * 32})
        assert "Unknown field 'PinnedSha265'" in error(unknown_option, 400, "0xA0110001")
        assert stored(service) == before

        put_v1 = v1.put("/KeyfactorAPI/SMTP", json=loose_v1)
        assert put_v1.status_code == 200, put_v1.text
        assert list(put_v1.json()) == V1_KEYS
        assert (put_v1.json()["Port"], put_v1.json()["UseSSL"]) == (2526, False)
        assert service.runtime_password() == CANARY

        loose_v2 = {**loose_v1, "Port": "587", "UseSSL": "true",
                    "RelayUsername": {"SecretValue": "svc", "HasValue": True},
                    "RelayPassword": {"SecretValue": "v2-" + CANARY, "Provider": None,
                                      "Parameters": {"SecretName": None},
                                      "Extra": IGNORED_CANARY}}
        put_v2 = v2.put("/KeyfactorAPI/SMTP", json=loose_v2)
        assert put_v2.status_code == 200, put_v2.text
        assert list(put_v2.json()) == V2_KEYS
        assert put_v2.json()["RelayUsername"] == {"SecretValue": "svc", "Provider": None,
                                                  "Parameters": None}
        assert (put_v2.json()["Port"], put_v2.json()["UseSSL"]) == (587, True)
        assert service.runtime_password() == "v2-" + CANARY
        answers = [put_v1, put_v2, v1.get("/KeyfactorAPI/SMTP"), v2.get("/KeyfactorAPI/SMTP")]
    for answer in answers:
        assert IGNORED_CANARY not in answer.text and "Unknown" not in answer.text
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "'Unknown'" in logged and "'RelayPassword.Extra'" in logged
    assert IGNORED_CANARY not in logged
    assert IGNORED_CANARY.encode() not in raw_contents(service.settings)


def test_a_form_is_read_by_the_same_rules(service: RunningService) -> None:
    form = ("Host=127.0.0.1&Id=1&Port=2526&RelayAuthenticationType=0&RelayUsername="
            "&SenderAccount=kf%40corp.local&SenderName=KF+client&UseSSL={}&Extra=1")
    headers = {"content-type": "application/x-www-form-urlencoded"}
    with service.client() as client:
        before = stored(service)
        for refused in ("1", "on", "yes"):
            response = client.put("/KeyfactorAPI/SMTP", content=form.format(refused),
                                  headers=headers)
            assert "UseSSL: must be true or false" in error(response, 400, "0xA0110001")
        assert stored(service) == before
        response = client.put("/KeyfactorAPI/SMTP", content=form.format("True"),
                              headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["UseSSL"] is True and list(response.json()) == V1_KEYS


@pytest.mark.parametrize("version", [1, 2])
def test_a_test_body_is_read_the_same_way(service: RunningService,
                                          smtp_server: Callable[..., SmtpServer],
                                          version: int) -> None:
    relay = smtp_server()
    body: dict[str, Any] = {
        "Host": "127.0.0.1", "Port": str(relay.port), "RelayAuthenticationType": "0",
        "SenderAccount": "noreply@corp.local", "SenderName": "KF", "UseSSL": "false",
        "TestRecipient": "pki@corp.local", "Unknown": IGNORED_CANARY,
    }
    with service.client(version=version) as client:
        refused = client.post("/KeyfactorAPI/SMTP/Test", json={**body, "Port": "0x19"})
        assert "Port: must be a whole number" in error(refused, 400, "0xA0110001")
        assert relay.received == []
        response = client.post("/KeyfactorAPI/SMTP/Test", json=body)
    assert response.status_code == 200, response.text
    if version == 1:
        assert response.json()["Port"] == relay.port and "Unknown" not in response.json()
    else:
        assert response.content == b""
    [received] = relay.received
    assert IGNORED_CANARY not in received.message.as_string()


def test_the_published_v1_client_with_an_additional_property(service: RunningService) -> None:
    """keyfactor-v-1-client sends its model's `additional_properties` along (a form body);
    Keyfactor's server ignores what it does not know, and so does this service."""
    from keyfactor_v_1_client.api.smtp import smtp_update_smtp
    from keyfactor_v_1_client.client import Client
    from keyfactor_v_1_client.models.keyfactor_api_models_smtpsmtp_request import (
        KeyfactorAPIModelsSMTPSMTPRequest,
    )

    credentials = base64.b64encode(f"admin:{service.admin_password}".encode()).decode()
    client = Client(base_url=f"{service.url}/KeyfactorAPI",
                    headers={"Authorization": f"Basic {credentials}"})
    request = KeyfactorAPIModelsSMTPSMTPRequest(
        host="mail.test", id=1, port=2527, relay_authentication_type=0,
        sender_account="kf@corp.local", sender_name="KF client", use_ssl=True)
    request["SenderDisplayFormat"] = "Name <address>"
    answer = smtp_update_smtp.sync_detailed(client=client, form_data=request, json_body=request)
    assert answer.status_code == 200, answer.content
    assert answer.parsed is not None and answer.parsed.port == 2527
    assert answer.parsed.use_ssl is True and answer.parsed.additional_properties == {}


def test_case_insensitive_paths_keep_parameters_and_prefer_fixed_routes() -> None:
    from smtp_profile.server.paths import CaseInsensitivePaths

    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("not called")

    paths = CaseInsensitivePaths(app, ["/KeyfactorAPI/PamProviders",
                                       "/KeyfactorAPI/PamProviders/Types",
                                       "/KeyfactorAPI/PamProviders/{id}"])
    assert paths.canonical_path("/keyfactorapi/pamproviders/types/") == (
        "/KeyfactorAPI/PamProviders/Types")
    assert paths.canonical_path("/keyfactorapi/pamproviders/AbC") == (
        "/KeyfactorAPI/PamProviders/AbC")
    assert paths.canonical_path("/keyfactorapi/pamproviders/1/x") is None
    assert paths.canonical_path("/other/pamproviders/1") is None
