"""Keyfactor's own published clients against the running service, with Basic credentials.

- keyfactor-v-1-client 1.0.3 (PyPI; Keyfactor's first Python SDK): its version-1 PUT
  sends a form body, and its wrapper module builds `user@domain` logins.
- keyfactor-command-sdk 11.0.0a1 (PyPI; "SDK in Python for Command 11.x Web APIs").
- A client built the way Keyfactor's Go SDK 2.x builds one (keyfactor-auth-client-go's
  Authenticate: GET Status/Endpoints first, with the headers it sends, then the SDK's
  GET and PUT /SMTP), over real HTTP.

Each client is used as its README shows; the service is the real one on loopback.
"""

from __future__ import annotations

import base64
import importlib
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from command_v11_client import client as command_client
from command_v11_client.api.smtp import get_smtp, post_smtp_test, put_smtp
from command_v11_client.api.status import get_status_endpoints
from command_v11_client.models.keyfactor_web_keyfactor_api_models_smtpsmtp_request import (
    KeyfactorWebKeyfactorApiModelsSMTPSMTPRequest as CommandSmtpRequest,
)
from command_v11_client.models.keyfactor_web_keyfactor_api_models_smtpsmtp_test_request import (
    KeyfactorWebKeyfactorApiModelsSMTPSMTPTestRequest as CommandTestRequest,
)
from keyfactor_v_1_client import client as v1_client
from keyfactor_v_1_client.api.smtp import smtp_smtp, smtp_test_smtp, smtp_update_smtp
from keyfactor_v_1_client.api.status import status_get_endpoints
from keyfactor_v_1_client.models.keyfactor_api_models_smtpsmtp_request import (
    KeyfactorAPIModelsSMTPSMTPRequest as V1SmtpRequest,
)
from keyfactor_v_1_client.models.keyfactor_api_models_smtpsmtp_test_request import (
    KeyfactorAPIModelsSMTPSMTPTestRequest as V1TestRequest,
)

from smtp_profile.server.product_version import PRODUCT_VERSION
from tests.support.service import RunningService, service_settings, start_service
from tests.support.smtp import SmtpServer

BASE = "/KeyfactorAPI"
RECIPIENT = "pki-admin@corp.local"
SENDER = "noreply@corp.local"


def basic_token(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


# -- keyfactor-v-1-client ------------------------------------------------------------------

def v1(service: RunningService, user: str = "admin") -> v1_client.AuthenticatedClient:
    """As its wrapper module builds it: AuthenticatedClient with prefix Basic."""
    return v1_client.AuthenticatedClient(
        base_url=service.url + BASE, prefix="Basic",
        token=basic_token(user, service.admin_password), timeout=30)


def test_keyfactor_v_1_client_reads_endpoints_then_reads_writes_and_tests(
        service: RunningService, smtp_server: Callable[..., SmtpServer]) -> None:
    client = v1(service)
    endpoints = status_get_endpoints.sync_detailed(client=client)
    assert endpoints.status_code == 200
    assert endpoints.parsed is not None and "PUT /SMTP" in endpoints.parsed
    assert endpoints.headers["x-keyfactor-product-version"] == PRODUCT_VERSION

    relay = smtp_server()
    wanted = V1SmtpRequest(host="127.0.0.1", port=relay.port, relay_authentication_type=0,
                           sender_account=SENDER, sender_name="Keyfactor Command",
                           use_ssl=False)
    # Its PUT sends the form body (form_data) and only builds the JSON one.
    put = smtp_update_smtp.sync_detailed(client=client, form_data=wanted, json_body=wanted)
    assert put.status_code == 200, put.content
    assert put.parsed is not None and put.parsed.port == relay.port

    read = smtp_smtp.sync_detailed(client=client)
    assert read.status_code == 200
    assert read.parsed is not None
    assert (read.parsed.host, read.parsed.port, read.parsed.sender_account) == (
        "127.0.0.1", relay.port, SENDER)

    tested = smtp_test_smtp.sync_detailed(client=client, json_body=V1TestRequest(
        host="127.0.0.1", port=relay.port, relay_authentication_type=0,
        sender_account=SENDER, sender_name="Keyfactor Command", use_ssl=False,
        test_recipient=RECIPIENT))
    assert tested.status_code == 200, tested.content
    assert tested.parsed is not None and tested.parsed.test_recipient == RECIPIENT
    [received] = relay.received
    assert received.rcpt_tos == [RECIPIENT]


def test_keyfactor_v_1_client_is_refused_in_keyfactors_format(service: RunningService) -> None:
    client = v1_client.AuthenticatedClient(base_url=service.url + BASE, prefix="Basic",
                                           token=basic_token("admin", "wrong-password"))
    refused = smtp_smtp.sync_detailed(client=client)
    assert refused.status_code == 401
    assert refused.parsed is None
    assert json.loads(refused.content)["ErrorCode"] == "0xA0110010"
    assert smtp_smtp.sync_detailed(client=v1(service)).status_code == 200


@pytest.fixture
def wrapper_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                ) -> Iterator[Callable[[str, dict[str, str]], ModuleType]]:
    """A client's wrapper module, imported afresh: each builds its one client from the
    KEYFACTOR_* environment when imported."""
    imported: list[str] = []

    def load(name: str, env: dict[str, str]) -> ModuleType:
        monkeypatch.setenv("KEYFACTOR_CONFIG", str(tmp_path / "no-environment.json"))
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        sys.modules.pop(name, None)
        imported.append(name)
        return importlib.import_module(name)

    yield load
    for name in imported:
        sys.modules.pop(name, None)


def test_keyfactor_v_1_client_wrapper_signs_in_as_user_at_domain(
        tmp_path: Path, wrapper_env: Callable[[str, dict[str, str]], ModuleType]) -> None:
    running = start_service(service_settings(tmp_path / "d", auth_domain="CORP"))
    try:
        wrapper = wrapper_env("keyfactor_v_1_client.wrappers.keyfactor", {
            "KEYFACTOR_HOSTNAME": running.url.removeprefix("http://"),
            "KEYFACTOR_SCHEME": "http", "KEYFACTOR_USERNAME": "admin",
            "KEYFACTOR_PASSWORD": running.admin_password, "KEYFACTOR_DOMAIN": "CORP"})
        token = wrapper.kfclient.token
        assert base64.b64decode(token).decode().startswith("admin@CORP:")
        endpoints: Any = wrapper.get_endpoints_()
        assert "GET /SMTP" in endpoints
        profile: Any = wrapper.smtp_()
        assert profile is not None and profile.id == 1
    finally:
        running.stop()


# -- keyfactor-command-sdk -----------------------------------------------------------------

def command(service: RunningService) -> command_client.AuthenticatedClient:
    """As its wrapper module builds it (it adds x-keyfactor-requested-with itself)."""
    return command_client.AuthenticatedClient(
        base_url=service.url + BASE, prefix="Basic",
        token=basic_token("admin", service.admin_password), timeout=httpx.Timeout(30))


def test_keyfactor_command_sdk_reads_endpoints_then_reads_writes_and_tests(
        service: RunningService, smtp_server: Callable[..., SmtpServer]) -> None:
    relay = smtp_server()
    with command(service) as client:
        endpoints = get_status_endpoints.sync_detailed(client=client)
        assert endpoints.status_code == 200
        assert isinstance(endpoints.parsed, list) and "POST /SMTP/Test" in endpoints.parsed

        put = put_smtp.sync_detailed(client=client, json_body=CommandSmtpRequest(
            host="127.0.0.1", port=relay.port, relay_authentication_type=0,
            sender_account=SENDER, sender_name="Keyfactor Command", use_ssl=False))
        assert put.status_code == 200, put.content

        read = get_smtp.sync_detailed(client=client)
        assert read.status_code == 200
        parsed: Any = read.parsed
        assert (parsed.host, parsed.port, parsed.use_ssl) == ("127.0.0.1", relay.port, False)

        tested = post_smtp_test.sync_detailed(client=client, json_body=CommandTestRequest(
            host="127.0.0.1", port=relay.port, relay_authentication_type=0,
            sender_account=SENDER, sender_name="Keyfactor Command", use_ssl=False,
            test_recipient=RECIPIENT))
        assert tested.status_code == 200, tested.content
        for version in ("2", "1"):
            again = get_smtp.sync_detailed(client=client, x_keyfactor_api_version=version)
            assert again.status_code == 200
    [received] = relay.received
    assert received.rcpt_tos == [RECIPIENT]


def test_keyfactor_command_sdk_wrapper_signs_in(
        service: RunningService,
        wrapper_env: Callable[[str, dict[str, str]], ModuleType]) -> None:
    wrapper = wrapper_env("command_v11_client.keyfactor", {
        "KEYFACTOR_HOSTNAME": service.url.removeprefix("http://"),
        "KEYFACTOR_SCHEME": "http", "KEYFACTOR_USERNAME": "CORP\\admin",
        "KEYFACTOR_PASSWORD": service.admin_password})
    endpoints = get_status_endpoints.sync_detailed(client=wrapper.kfclient)
    assert endpoints.status_code == 200
    assert "GET /SMTP" in (endpoints.parsed or [])


# -- built the way Keyfactor's Go SDK 2.x builds a client ----------------------------------

GO_AUTHENTICATE_HEADERS = {
    "Content-Type": "application/json", "Accept": "application/json",
    "x-keyfactor-api-version": "1", "x-keyfactor-requested-with": "APIClient",
}
"""What keyfactor-auth-client-go's CommandAuthConfig.Authenticate sends to Status/Endpoints."""


def go_sdk_client(service: RunningService, user: str) -> tuple[httpx.Client, str]:
    """keyfactor-go-client-sdk 2.x NewAPIClient: CommandAuthConfigBasic.Authenticate
    (Basic `DOMAIN\\user` when a domain is configured) must get a 200 with a JSON array
    of strings from Status/Endpoints, and it keeps x-keyfactor-product-version as the
    Command version; only then is the client built."""
    authorization = f"Basic {basic_token(user, service.admin_password)}"
    client = httpx.Client(base_url=service.url + BASE, timeout=30,
                          headers={"Authorization": authorization})
    answer = client.get("/Status/Endpoints", headers=GO_AUTHENTICATE_HEADERS)
    assert answer.status_code == 200, answer.text
    endpoints = json.loads(answer.content)  # Go: json.Unmarshal into []string
    assert isinstance(endpoints, list) and all(isinstance(e, str) for e in endpoints)
    version = answer.headers.get("x-keyfactor-product-version") or "10.5.0.0"
    return client, version


@pytest.mark.parametrize("user", [
    "admin",
    "KEYEXAMPLE\\admin",  # keyfactor-auth-client-go with a domain configured
    "admin@KEYEXAMPLE",  # Go SDK 1.x with a domain configured
])
def test_a_client_built_like_go_sdk_2_reads_and_writes_the_profile(
        service: RunningService, user: str) -> None:
    client, command_version = go_sdk_client(service, user)
    assert command_version == PRODUCT_VERSION
    try:
        # The generated SmtpApi: Accept application/json, the Keyfactor headers, and for
        # the PUT a JSON body with omitempty fields (UseSSL false is left out).
        sdk_headers = {"Accept": "application/json", "x-keyfactor-api-version": "1",
                       "x-keyfactor-requested-with": "APIClient"}
        read = client.get("/SMTP", headers=sdk_headers)
        assert read.status_code == 200
        body = {"Host": "smtp.corp.local", "Port": 587, "RelayAuthenticationType": 0,
                "SenderAccount": SENDER, "SenderName": "Keyfactor Command"}
        written = client.put("/SMTP", content=json.dumps(body),
                             headers={**sdk_headers, "Content-Type": "application/json"})
        assert written.status_code == 200, written.text
        assert client.get("/SMTP", headers=sdk_headers).json() == {
            "Host": "smtp.corp.local", "Id": 1, "Port": 587, "RelayAuthenticationType": 0,
            "RelayUsername": None, "SenderAccount": SENDER,
            "SenderName": "Keyfactor Command", "UseSSL": False}
    finally:
        client.close()


def test_a_go_sdk_2_client_is_not_built_with_wrong_credentials(service: RunningService) -> None:
    with httpx.Client(base_url=service.url + BASE) as client:
        answer = client.get("/Status/Endpoints", headers={
            **GO_AUTHENTICATE_HEADERS,
            "Authorization": f"Basic {basic_token('admin', 'wrong-password')}"})
    assert answer.status_code == 401
    assert json.loads(answer.content)["ErrorCode"] == "0xA0110010"
    go_sdk_client(service, "admin")[0].close()
