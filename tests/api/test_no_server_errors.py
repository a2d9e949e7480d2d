"""Whatever a client sends, the answer is never a 5xx: out-of-range times in the audit
query, numbers past Python's int-to-string limit in a body, a header or a query. Each
refusal is followed by a success on the same instance, and nothing is stored."""

from __future__ import annotations

import httpx
import pytest

from tests.api.test_smtp_routes import BASIC_V1, error, stored
from tests.support.service import RunningService

AUDIT = "/KeyfactorAPI/SMTP/Audit"
HUGE = "9" * 5000


@pytest.mark.parametrize("query", [
    {"since": "999999d"},
    {"since": "999999w"},
    {"since": "99999999999999999999999999999d"},
    {"until": "9999-12-31T23:59:59-14:00"},
    {"since": "0001-01-01T00:00:00+14:00"},
    {"until": "999999h", "since": "999999s"},
    {"returnLimit": HUGE},
    {"pageReturned": HUGE},
])
def test_audit_times_and_numbers_out_of_range_are_a_400(service: RunningService,
                                                         query: dict[str, str]) -> None:
    with service.client() as client:
        message = error(client.get(AUDIT, params=query), 400, "0xA0110001")
        assert any(name in message for name in query)
        assert client.get(AUDIT, params={"since": "7d"}).status_code == 200


def test_the_earliest_and_latest_times_that_fit_are_accepted(service: RunningService) -> None:
    with service.client() as client:
        response = client.get(AUDIT, params={"since": "0001-01-02", "until": "9999-12-30"})
        assert response.status_code == 200, response.text


@pytest.mark.parametrize("number", [HUGE, "1e999", "-" + HUGE, "0." + HUGE + "e99999"])
def test_huge_json_numbers_are_a_400_and_change_nothing(service: RunningService,
                                                        number: str) -> None:
    before = stored(service)
    body = ('{"Host": "mail.test", "Port": ' + number + ', "RelayAuthenticationType": 0, '
            '"SenderAccount": "a@corp.local", "SenderName": "A", "UseSSL": false}')
    with service.client() as client:
        response = client.put("/KeyfactorAPI/SMTP", content=body,
                              headers={"content-type": "application/json"})
        assert response.status_code == 400, response.text
        assert response.json()["ErrorCode"] in ("0xA0110001", "0xA0110002")
        assert stored(service) == before
        assert client.put("/KeyfactorAPI/SMTP", json=BASIC_V1).status_code == 200


@pytest.mark.parametrize("tag", [HUGE.encode(), f'"{HUGE}"'.encode(), f'W/"{HUGE}"'.encode(),
                                 '"²"'.encode("latin-1"), '"¹"'.encode("latin-1")])
def test_if_match_beyond_any_version_is_a_412(service: RunningService, tag: bytes) -> None:
    before = stored(service)
    with service.client() as client:
        error(client.put("/KeyfactorAPI/SMTP", json=BASIC_V1, headers={b"If-Match": tag}),
              412, "0xA0110014")
        assert stored(service) == before
        etag = client.get("/KeyfactorAPI/SMTP").headers["ETag"]
        assert client.put("/KeyfactorAPI/SMTP", json=BASIC_V1,
                          headers={"If-Match": etag}).status_code == 200


@pytest.mark.parametrize("length", [189, 300, 1000])
def test_a_long_user_name_is_a_401_not_a_5xx(service: RunningService, length: int) -> None:
    """The sign-in counters are keyed by the name; a long one must still fit its column
    (on PostgreSQL a name over 188 characters once overflowed it)."""
    name = "u" * length
    with service.client(name, "wrong-password") as stranger:
        error(stranger.get("/KeyfactorAPI/SMTP"), 401, "0xA0110010")
    with httpx.Client(base_url=service.url, timeout=60,
                      headers={"x-keyfactor-requested-with": "XMLHttpRequest"}) as page:
        signed = page.post("/web/session", json={"UserName": name, "Password": "wrong"})
        assert signed.status_code in (400, 401), signed.text
        assert signed.json()["ErrorCode"] in ("0xA0110001", "0xA0110010"), signed.text
    with service.client() as client:
        assert client.get("/KeyfactorAPI/SMTP").status_code == 200
