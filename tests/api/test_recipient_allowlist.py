"""`--test-recipient-domains` judges the address the relay would deliver to (issue 12, item 10).

`x%evil.example@corp.example`, `evil.example!x@corp.example` and
`"x@evil.example"@corp.example` end in an allowed domain, yet a relay that honours the
percent hack, bang paths or a quoted address delivers them to evil.example. Each is
refused with a 403 on Test and Diagnose, nothing reaches the relay, and a plain
recipient of the allowed domain then gets its test on the same running instance.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from smtp_profile.domain.recipients import RecipientPolicy, parse_domains
from tests.api.test_smtp_routes import error
from tests.support.resolver import StaticResolver
from tests.support.service import RunningService, service_settings, start_service
from tests.support.smtp import SmtpServer

ROUTED = ["x%evil.example@corp.example", "evil.example!x@corp.example",
          '"x@evil.example"@corp.example']


@pytest.fixture
def allowlisted(tmp_path: Path, ca_bundle: Path) -> Iterator[RunningService]:
    settings = service_settings(tmp_path / "data", ca_bundle,
                                recipients=RecipientPolicy(parse_domains("corp.example")))
    running = start_service(settings, StaticResolver({"mail.test": ["127.0.0.1"]}))
    yield running
    running.stop()


def body(port: int, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {"Host": "127.0.0.1", "Port": port,
                              "SenderAccount": "noreply@corp.example", "SenderName": "KF",
                              "TestRecipient": "pki@corp.example"}
    values.update(overrides)
    return values


@pytest.mark.parametrize("recipient", ROUTED)
@pytest.mark.parametrize("route", ["Test", "Diagnose"])
def test_routed_recipients_are_refused_then_a_plain_one_is_sent_to(
        allowlisted: RunningService, smtp_server: Callable[..., SmtpServer],
        route: str, recipient: str) -> None:
    relay = smtp_server()
    with allowlisted.client() as client:
        refused = client.post(f"/KeyfactorAPI/SMTP/{route}",
                              json=body(relay.port, TestRecipient=recipient))
        assert relay.received == []
        ok = client.post(f"/KeyfactorAPI/SMTP/{route}", json=body(relay.port))
    message = error(refused, 403, "0xA0110018")
    assert recipient in message and "deliver to another domain" in message
    assert ok.status_code == 200, ok.text
    [received] = relay.received
    assert received.rcpt_tos == ["pki@corp.example"]


def test_a_stored_sender_used_as_recipient_is_judged_too(
        allowlisted: RunningService, smtp_server: Callable[..., SmtpServer]) -> None:
    relay = smtp_server()
    profile = {k: v for k, v in body(relay.port).items() if k != "TestRecipient"}
    with allowlisted.client() as client:
        client.put("/KeyfactorAPI/SMTP", json={
            **profile, "SenderAccount": "x%evil.example@corp.example"}).raise_for_status()
        refused = client.post("/KeyfactorAPI/SMTP/Diagnose", json={})
        client.put("/KeyfactorAPI/SMTP", json=profile).raise_for_status()
        ok = client.post("/KeyfactorAPI/SMTP/Diagnose", json={})
    assert "percent-hack" in error(refused, 403, "0xA0110018")
    assert ok.json()["Success"] is True, ok.text
    assert [r.rcpt_tos for r in relay.received] == [["noreply@corp.example"]]
