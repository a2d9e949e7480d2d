"""A catalogue of hostile inputs, each refused with a 4xx error body and nothing stored.

The string fields are enumerated from the wire models themselves, so a field added later
is covered without touching this file.
"""

from __future__ import annotations

import json
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import pytest
from pydantic import BaseModel

from smtp_profile.wire.models import (
    DiagnoseV2In,
    OptionsIn,
    ProfileV1In,
    ProfileV2In,
    TestV1In,
    TestV2In,
)
from smtp_profile.wire.service_account import ServiceAccountIn
from tests.api.test_smtp_routes import error
from tests.support.resolver import StaticResolver
from tests.support.service import RunningService, service_settings, start_service
from tests.support.smtp import LoopThread, ScriptedServer, SmtpServer, silent


@pytest.fixture(scope="module")
def hostile_service(tmp_path_factory: pytest.TempPathFactory,
                    ca_bundle: Path) -> Iterator[RunningService]:
    """One service for the whole catalogue; each case checks that nothing changed."""
    resolver = StaticResolver({"mail.test": ["127.0.0.1"]})
    running = start_service(service_settings(tmp_path_factory.mktemp("hostile"), ca_bundle),
                            resolver)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def tripwire(loop_thread: LoopThread) -> Iterator[ScriptedServer]:
    """A relay that must never be contacted by a refused request."""
    server = ScriptedServer(loop_thread, silent)
    yield server
    server.close()


def valid_bodies(port: int) -> dict[str, tuple[str, str, int, type[BaseModel],
                                               dict[str, Any]]]:
    v1 = {"Id": 1, "Host": "mail.test", "Port": port, "RelayAuthenticationType": 2,
          "RelayUsername": "svc", "RelayPassword": "pw-123456", "SenderAccount": "a@corp.local",
          "SenderAddress": "a@corp.local", "SenderName": "KF", "UseSSL": False}
    v2 = {**v1, "RelayUsername": {"SecretValue": "svc"},
          "RelayPassword": {"SecretValue": "pw-123456"},
          "ClientId": {"SecretValue": "client"}, "ClientSecret": {"SecretValue": "secret"},
          "TokenEndpoint": "https://login.example.test/token", "Scope": "s", "Audience": "a",
          "RequestHeaders": [{"Name": "X-Tenant", "Value": "t"}]}
    recipient = {"TestRecipient": "b@corp.local"}
    return {
        "put-v1": ("PUT", "/KeyfactorAPI/SMTP", 1, ProfileV1In, v1),
        "put-v2": ("PUT", "/KeyfactorAPI/SMTP", 2, ProfileV2In, v2),
        "test-v1": ("POST", "/KeyfactorAPI/SMTP/Test", 1, TestV1In, {**v1, **recipient}),
        "test-v2": ("POST", "/KeyfactorAPI/SMTP/Test", 2, TestV2In, {**v2, **recipient}),
        "diagnose-v2": ("POST", "/KeyfactorAPI/SMTP/Diagnose", 2, DiagnoseV2In,
                        {**v2, **recipient, "Mode": "verify", "Mechanism": "auto"}),
        "options": ("PUT", "/KeyfactorAPI/SMTP/Options", 1, OptionsIn,
                    {"PinnedSha256": "ab" * 32, "Mechanism": "auto", "CaBundle": None}),
        "service-account": ("PUT", "/KeyfactorAPI/SMTP/OAuth/ServiceAccount", 1,
                            ServiceAccountIn, {"KeyFile": '{"type": "service_account"}',
                                               "Host": "smtp.gmail.com", "Port": 587,
                                               "UseSSL": True}),
    }


def _models(annotation: Any) -> list[type[BaseModel]]:
    if get_origin(annotation) in (Union, types.UnionType, list):
        return [m for arg in get_args(annotation) for m in _models(arg)]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return []


def _is_str(annotation: Any) -> bool:
    if get_origin(annotation) in (Union, types.UnionType):
        return any(_is_str(a) for a in get_args(annotation))
    return annotation is str


def string_paths(model: type[BaseModel]) -> list[tuple[str | int, ...]]:
    """Paths to every string a client can send, nested objects and lists included."""
    paths: list[tuple[str | int, ...]] = []
    for name, info in model.model_fields.items():
        alias = info.alias or name
        if _is_str(info.annotation):
            paths.append((alias,))
        for nested in _models(info.annotation):
            index: tuple[str | int, ...] = (alias, 0) if get_origin(info.annotation) is list \
                or any(get_origin(a) is list for a in get_args(info.annotation)) else (alias,)
            paths += [index + sub for sub in string_paths(nested)]
    return paths


def with_value(body: dict[str, Any], path: tuple[str | int, ...], value: str) -> dict[str, Any]:
    import copy

    result = copy.deepcopy(body)
    node: Any = result
    for key in path[:-1]:
        if isinstance(key, int):
            while len(node) <= key:
                node.append({})
            node = node[key]
        else:
            node = node.setdefault(key, {}) if not isinstance(node.get(key), dict | list) \
                else node[key]
            if node is None:
                node = {}
    node[path[-1]] = value
    return result


CASES = [(route, path) for route, (_, _, _, model, _) in valid_bodies(25).items()
         for path in string_paths(model)]


def snapshot(service: RunningService) -> tuple[Any, Any]:
    with service.client(version=2) as client:
        return (client.get("/KeyfactorAPI/SMTP").json(),
                client.get("/KeyfactorAPI/SMTP/Options").json())


def send(service: RunningService, method: str, path: str, version: int,
         payload: dict[str, Any]) -> Any:
    with service.client(version=version) as client:
        return client.request(method, path, json=payload)


@pytest.mark.parametrize("injection", ["\r\nBcc: victim@example.test", "\n", "\x00", "\x1b[2J"])
@pytest.mark.parametrize(("route", "path"), CASES,
                         ids=[f"{r}:{'.'.join(map(str, p))}" for r, p in CASES])
def test_control_characters_in_every_string_field(
        hostile_service: RunningService, tripwire: ScriptedServer, route: str,
        path: tuple[str | int, ...], injection: str) -> None:
    method, url, version, _, valid = valid_bodies(tripwire.port)[route]
    before, connections = snapshot(hostile_service), tripwire.connections
    value = "prefix" + injection + "suffix"
    if path[-1] == "CaBundle" and injection in ("\n",):
        pytest.skip("line breaks are what PEM is made of; only other controls are refused")
    response = send(hostile_service, method, url, version, with_value(valid, path, value))
    message = error(response, 400, "0xA0110001")
    assert str(path[-1]) in message
    assert snapshot(hostile_service) == before
    assert tripwire.connections == connections


@pytest.mark.parametrize(("route", "path"), CASES,
                         ids=[f"{r}:{'.'.join(map(str, p))}" for r, p in CASES])
def test_very_long_strings_in_every_field(hostile_service: RunningService,
                                          tripwire: ScriptedServer, route: str,
                                          path: tuple[str | int, ...]) -> None:
    method, url, version, _, valid = valid_bodies(tripwire.port)[route]
    before = snapshot(hostile_service)
    response = send(hostile_service, method, url, version,
                    with_value(valid, path, "x" * 20000))
    assert response.status_code == 400, response.text
    assert set(response.json()) == {"ErrorCode", "Message"}
    assert snapshot(hostile_service) == before


@pytest.mark.parametrize("route", list(valid_bodies(25)))
@pytest.mark.parametrize("payload", [b"[]", b"null", b'"text"', b"42", b"true", b"[{}]"])
def test_bodies_that_are_not_objects(hostile_service: RunningService, route: str,
                                     payload: bytes) -> None:
    method, url, version, _, _ = valid_bodies(25)[route]
    before = snapshot(hostile_service)
    with hostile_service.client(version=version) as client:
        response = client.request(method, url, content=payload,
                                  headers={"content-type": "application/json"})
    error(response, 400, "0xA0110002")
    assert snapshot(hostile_service) == before


@pytest.mark.parametrize("route", list(valid_bodies(25)))
@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "multipart/form-data",
                                          "application/octet-stream"])
def test_each_route_refuses_other_content_types(hostile_service: RunningService, route: str,
                                                content_type: str) -> None:
    method, url, version, _, _ = valid_bodies(25)[route]
    before = snapshot(hostile_service)
    with hostile_service.client(version=version) as client:
        response = client.request(method, url, content=b"Host=x",
                                  headers={"content-type": content_type})
    error(response, 415, "0xA0110016")
    assert snapshot(hostile_service) == before


@pytest.mark.parametrize(("path", "allowed"), [
    ("/KeyfactorAPI/SMTP", {"GET", "PUT"}),
    ("/KeyfactorAPI/SMTP/Test", {"POST"}),
    ("/KeyfactorAPI/SMTP/Diagnose", {"POST"}),
    ("/KeyfactorAPI/SMTP/Status", {"GET"}),
    ("/KeyfactorAPI/SMTP/Options", {"GET", "PUT"}),
    ("/KeyfactorAPI/SMTP/OAuth/Credential", {"GET", "PUT", "DELETE"}),
    ("/KeyfactorAPI/SMTP/OAuth/ServiceAccount", {"GET", "PUT", "DELETE"}),
])
def test_each_route_refuses_other_methods(hostile_service: RunningService, path: str,
                                          allowed: set[str]) -> None:
    with hostile_service.client() as client:
        for method in {"GET", "PUT", "POST", "DELETE", "PATCH"} - allowed:
            response = client.request(method, path, json={})
            error(response, 405, "0xA0110013")
            assert set(response.headers["allow"].replace(" ", "").split(",")) >= allowed


@pytest.mark.parametrize(("field", "value", "wording"), [
    ("Port", 0, "Port must be between 1 and 65535"),
    ("Port", 65536, "Port must be between 1 and 65535"),
    ("Port", -1, "Port must be between 1 and 65535"),
    ("Port", "25.0", "Port: must be a whole number"),
    ("Port", 2**70, "Port must be between 1 and 65535"),
    ("UseSSL", "no", "UseSSL: must be true or false"),
    ("UseSSL", 0, "UseSSL: must be true or false"),
    ("RelayAuthenticationType", "0x2", "RelayAuthenticationType: must be a whole number"),
    ("Id", "one", "Id: must be a whole number"),
    ("Host", ["a"], "Host: must be a string"),
    ("Host", {"a": 1}, "Host: must be a string"),
    ("RelayUsername", 5, "RelayUsername: must be a string"),
    ("NotAField", "\x00", "NotAField must not contain line breaks or other control"),
    ("Host", "xn--zz.example", "Host has an invalid punycode label"),
    ("Host", "ex\u200bample.test", "Host must not contain line breaks or other control"),
    ("SenderName", "Admin\u202egnp.exe", "SenderName must not contain line breaks"),
])
def test_wrong_types_and_values(hostile_service: RunningService, field: str, value: Any,
                                wording: str) -> None:
    _, url, _, _, valid = valid_bodies(25)["put-v1"]
    before = snapshot(hostile_service)
    response = send(hostile_service, "PUT", url, 1, {**valid, field: value})
    assert wording in error(response, 400, "0xA0110001")
    assert snapshot(hostile_service) == before


def test_duplicate_keys_and_keys_differing_in_case(hostile_service: RunningService) -> None:
    before = snapshot(hostile_service)
    with hostile_service.client() as client:
        for payload in (b'{"Host":"a.test","Host":"b.test"}', b'{"Host":"a.test","hOST":"b"}',
                        b'{"RelayPassword":{"SecretValue":"a","secretvalue":"b"}}'):
            response = client.put("/KeyfactorAPI/SMTP", content=payload,
                                  headers={"content-type": "application/json",
                                           "x-keyfactor-api-version": "2"})
            error(response, 400, "0xA0110002")
    assert snapshot(hostile_service) == before


def test_invalid_utf8_and_huge_or_deep_json(hostile_service: RunningService) -> None:
    before = snapshot(hostile_service)
    with hostile_service.client() as client:
        headers = {"content-type": "application/json"}
        for payload, status, code in ((b'{"Host": "\xc3\x28"}', 400, "0xA0110002"),
                                      (b'{"Host": "' + b"a" * 70000 + b'"}', 413, "0xA0110015"),
                                      (b'{"a":' * 5000 + b"1" + b"}" * 5000, 400, "0xA0110002")):
            error(client.put("/KeyfactorAPI/SMTP", content=payload, headers=headers),
                  status, code)
    assert snapshot(hostile_service) == before


def test_idn_and_punycode_hosts_are_the_same_destination(
        hostile_service: RunningService) -> None:
    _, url, _, _, valid = valid_bodies(25)["put-v1"]
    without = {k: v for k, v in valid.items() if k != "RelayPassword"}
    with hostile_service.client() as client:
        saved = client.put(url, json={**valid, "Host": "bücher.example"})
        assert saved.status_code == 200 and saved.json()["Host"] == "bücher.example"
        # The same name in A-labels is the same server: the stored password is kept.
        same = client.put(url, json={**without, "Host": "xn--bcher-kva.example"})
        assert same.status_code == 200, same.text
        other = client.put(url, json={**without, "Host": "bucher.example"})
    error(other, 400, "0xA0110007")


def test_smtputf8_addresses(hostile_service: RunningService,
                            smtp_server: Callable[..., SmtpServer]) -> None:
    with_utf8 = smtp_server()
    without_utf8 = smtp_server(enable_SMTPUTF8=False)
    body = {"Host": "127.0.0.1", "SenderAccount": "José@corp.local", "SenderName": "Zoë",
            "TestRecipient": "Üser@exämple.test"}
    with hostile_service.client() as client:
        ok = client.post("/KeyfactorAPI/SMTP/Diagnose", json={**body, "Port": with_utf8.port})
        refused = client.post("/KeyfactorAPI/SMTP/Diagnose",
                              json={**body, "Port": without_utf8.port})
    assert ok.json()["Success"] is True, ok.json()["Steps"]
    [received] = with_utf8.received
    assert received.mail_from == "José@corp.local"
    assert received.rcpt_tos == ["Üser@xn--exmple-cua.test"]
    [step] = [s for s in refused.json()["Steps"] if s["Status"] == "failed"]
    assert step["Name"] == "mail_from" and "SMTPUTF8" in step["Message"]


@pytest.mark.parametrize("route", list(valid_bodies(25)))
def test_a_deeply_nested_unknown_property_is_a_400_not_a_500(hostile_service: RunningService,
                                                              tripwire: ScriptedServer,
                                                              route: str) -> None:
    """Deep enough to pass the JSON decoder but not Python's recursion limit in a walk of
    the body (once a 500); refused for the NUL at the bottom, on every route."""
    method, url, version, _, valid = valid_bodies(tripwire.port)[route]
    before, connections = snapshot(hostile_service), tripwire.connections
    depth = 900
    nested = '{"a": ' * depth + '"\\u0000"' + "}" * depth
    text = json.dumps(valid)[:-1] + ', "NotAField": ' + nested + "}"
    with hostile_service.client(version=version) as client:
        response = client.request(method, url, content=text.encode(),
                                  headers={"content-type": "application/json"})
    error(response, 400, "0xA0110001")
    assert snapshot(hostile_service) == before
    assert tripwire.connections == connections


def test_keyfactor_routes_ignore_unknown_properties_this_services_own_refuse_them(
        hostile_service: RunningService) -> None:
    """PUT /SMTP and Test read as Keyfactor's server reads (issue 15); Options, this
    service's own route, names the misspelt field instead of dropping a trust setting."""
    _, url, _, _, options = valid_bodies(25)["options"]
    before = snapshot(hostile_service)
    with hostile_service.client() as client:
        refused = client.put(url, json={**options, "PinnedSHA_256": "ab" * 32})
        assert "Unknown field 'PinnedSHA_256'" in error(refused, 400, "0xA0110001")
        assert snapshot(hostile_service) == before
        _, put_url, _, _, profile = valid_bodies(25)["put-v1"]
        accepted = client.put(put_url, json={**profile, "NotAField": {"a": [1, None]}})
    assert accepted.status_code == 200, accepted.text
    assert "NotAField" not in accepted.text


@pytest.mark.parametrize("field", ["KeyFile", "Arguments", "Environment"])
def test_json_text_nested_too_deeply_inside_a_field_is_a_400_not_a_500(
        hostile_service: RunningService, field: str) -> None:
    """A field whose value is itself JSON (a service account key file, an External-Command
    provider's Arguments or Environment) nested deeper than Python's recursion limit: once
    a RecursionError and a 500. Refused like any other text that is not JSON, nothing
    stored, and the same route then takes a good value."""
    # Within each field's length limit (4096 characters for a provider's parameters).
    nested = "[" * 2000 + "]" * 2000
    before = snapshot(hostile_service)
    with hostile_service.client(version=2) as client:
        if field == "KeyFile":
            url = "/KeyfactorAPI/SMTP/OAuth/ServiceAccount"
            refused = client.put(url, json={"KeyFile": nested, "Host": "smtp.gmail.com",
                                            "Port": 587, "UseSSL": True})
            assert "not valid JSON" in error(refused, 400, "0xA0110001")
            assert snapshot(hostile_service) == before
            good = client.put(url, json={"KeyFile": '{"type": "service_account"}',
                                         "Host": "smtp.gmail.com", "Port": 587,
                                         "UseSSL": True})
            # A key file that is JSON gets as far as naming what it lacks.
            assert "not valid JSON" not in error(good, 400, "0xA0110001")
            return
        values = [{"ProviderTypeParam": {"Name": "Executable"}, "Value": "/bin/cat"},
                  {"ProviderTypeParam": {"Name": field}, "Value": nested}]
        name = f"nested-{field}"
        provider = {"Name": name, "ProviderType": {"Name": "External-Command"},
                    "ProviderTypeParamValues": values}
        refused = client.post("/KeyfactorAPI/PamProviders", json=provider)
        assert "JSON" in error(refused, 400, "0xA0110001")
        stored = client.get("/KeyfactorAPI/PamProviders").json()
        assert name not in [p["Name"] for p in stored]
        values[1]["Value"] = '["{Secret}"]' if field == "Arguments" else '{"LANG": "C"}'
        added = client.post("/KeyfactorAPI/PamProviders", json=provider)
        assert added.status_code == 200, added.text
