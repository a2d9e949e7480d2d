"""Inputs the web page refuses are refused by the API too: a port in exponent notation,
an address whose domain ends in a dot. Each refusal, then a success on the same service."""

from __future__ import annotations

from tests.support.service import RunningService

H = {"Content-Type": "application/json"}
BODY = ('{"Host": "relay.corp.local", "Port": %s, "UseSSL": false, '
        '"RelayAuthenticationType": 0, "SenderName": "PKI", "SenderAccount": "%s"}')


def test_exponent_port_and_trailing_dot_address_are_refused_then_a_fix_is_stored(
        service: RunningService) -> None:
    with service.client(version=2) as client:
        answer = client.put("/KeyfactorAPI/SMTP", content=BODY % ("1e3", "pki@corp.local"),
                            headers=H)
        assert answer.status_code == 400, answer.text
        assert answer.json()["Message"].startswith("Port")
        answer = client.put("/KeyfactorAPI/SMTP", content=BODY % ('"1e3"', "pki@corp.local"),
                            headers=H)
        assert answer.status_code == 400, answer.text
        assert answer.json()["Message"].startswith("Port")
        answer = client.put("/KeyfactorAPI/SMTP", content=BODY % ("1000", "pki@corp.local."),
                            headers=H)
        assert answer.status_code == 400, answer.text
        assert "SenderAccount" in answer.json()["Message"]
        assert "ending in a dot" in answer.json()["Message"]
        assert client.get("/KeyfactorAPI/SMTP").json()["Port"] != 1000

        answer = client.put("/KeyfactorAPI/SMTP", content=BODY % ("1000", "pki@corp.local"),
                            headers=H)
        assert answer.status_code == 200, answer.text
        assert client.get("/KeyfactorAPI/SMTP").json()["SenderAccount"] == "pki@corp.local"
