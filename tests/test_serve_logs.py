"""`smtp-profile serve --log-level debug` writes no secret, whatever its libraries see.

At DEBUG httpcore logs every answer's headers; a token endpoint that redirects with the
client secret in its `Location` would put the secret in the log. The service runs as an
operator starts it, its whole output is captured, and the secret is looked for in every
form it could take.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx
import pytest

from tests.support.oauth import Issuer, TokenEndpoint
from tests.support.smtp import Behaviour, SmtpServer
from tests.test_cli import serving

SECRET = "Debug-Log-Canary/+=7f3a"


@pytest.mark.slow
def test_debug_logs_carry_no_secret_from_a_redirecting_token_endpoint(
        tmp_path: Path, ca_bundle: Path, smtp_server: Callable[..., SmtpServer],
        token_endpoint: Callable[..., TokenEndpoint]) -> None:
    relay = smtp_server("starttls", Behaviour(xoauth2_tokens=frozenset({"a-token"})))
    location = (f"https://idp.test/continue?client_secret={quote(SECRET, safe='')}"
                f"&raw={SECRET}")
    endpoint = token_endpoint(Issuer(client_id="client-1", client_secret=SECRET,
                                     raw_answer=(302, b"", {"Location": location})), tls=True)
    data_dir = tmp_path / "data"
    env = {"SMTP_PROFILE_CA_BUNDLE": str(ca_bundle), "SMTP_PROFILE_TESTS_PER_MINUTE": "0",
           "SMTP_PROFILE_TOKEN_ENDPOINT_PORTS": str(urlsplit(endpoint.url).port)}
    with serving(data_dir, env=env, extra=("--log-level", "debug")) as (url, process):
        password = (data_dir / "initial-admin-password").read_text().strip()
        response = httpx.post(
            f"{url}/KeyfactorAPI/SMTP/Test", auth=("admin", password), timeout=60,
            headers={"x-keyfactor-requested-with": "APIClient", "x-keyfactor-api-version": "2"},
            json={"Host": "127.0.0.1", "Port": relay.port, "UseSSL": True,
                  "RelayAuthenticationType": 3, "SenderAccount": "svc@corp.local",
                  "SenderName": "KF", "TestRecipient": "pki@corp.local",
                  "ClientId": {"SecretValue": "client-1"},
                  "ClientSecret": {"SecretValue": SECRET}, "TokenEndpoint": endpoint.url})
    assert process.stdout is not None
    output = process.stdout.read()
    assert response.status_code == 400, response.text
    assert "at step 'token'" in response.json()["Message"]
    assert len(endpoint.calls) == 1  # the token endpoint was asked, and redirected
    assert " DEBUG " in output  # the service did log at debug level
    forms = {SECRET, quote(SECRET, safe=""), quote(SECRET), quote(SECRET, safe="").lower(),
             base64.b64encode(SECRET.encode()).decode()}
    leaked = [form for form in forms if form in output]
    assert leaked == [], [line for line in output.splitlines() if any(f in line for f in forms)]


@pytest.mark.parametrize(("extra", "logged"), [((), False), (("--access-log",), True)])
def test_the_access_log_is_off_unless_asked_for(tmp_path: Path, extra: tuple[str, ...],
                                                logged: bool) -> None:
    """Off by default (its line per request is a quarter of GET's throughput, and changes
    are audited anyway); `--access-log` writes uvicorn's line for each request."""
    with serving(tmp_path / "data", extra=extra) as (url, process):
        assert httpx.get(f"{url}/healthz/missing").status_code == 404
    assert process.stdout is not None
    output = process.stdout.read()
    assert "smtp-profile" in output  # the start-up line: the output was read
    assert ('"GET /healthz/missing HTTP/1.1" 404' in output) is logged, output
