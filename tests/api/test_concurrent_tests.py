"""Tests of the stored profile finishing at once: no error, every one recorded, and the
status keeps one of them (run with SMTP_PROFILE_TEST_DATABASE for PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.api.test_audit import audit
from tests.api.test_hang_ups import HeldRelay, until
from tests.api.test_test_email import relay_body
from tests.support.service import RunningService
from tests.support.smtp import LoopThread, SmtpServer

AT_ONCE = 4


def test_tests_finishing_at_once_all_succeed_and_are_all_recorded(
        service: RunningService, smtp_server: Callable[..., SmtpServer],
        loop_thread: LoopThread) -> None:
    held = HeldRelay(smtp_server(), loop_thread)
    profile = {k: v for k, v in relay_body(held.relay.port).items() if k != "TestRecipient"}
    with service.client() as client:
        client.put("/KeyfactorAPI/SMTP", json=profile).raise_for_status()

    def diagnose(_: int) -> httpx.Response:
        with service.client() as client:
            return client.post("/KeyfactorAPI/SMTP/Diagnose", json={"Mode": "verify"})

    with ThreadPoolExecutor(AT_ONCE) as pool:
        running = [pool.submit(diagnose, i) for i in range(AT_ONCE)]
        until(lambda: held.reached == AT_ONCE, "the tests never all reached MAIL FROM")
        held.release()  # all of them finish, and save their status, at once
        responses = [future.result() for future in running]
    assert [r.status_code for r in responses] == [200] * AT_ONCE, [r.text for r in responses]
    assert all(r.json()["Success"] for r in responses)
    test_ids = {r.headers["x-test-id"] for r in responses}
    assert len([r for r in audit(service, action="Diagnose") if r["Success"]]) == AT_ONCE
    with service.client() as client:
        last = client.get("/KeyfactorAPI/SMTP/Status").json()["LastTest"]
        assert last["TestId"] in test_ids and last["Success"] is True
        again = client.post("/KeyfactorAPI/SMTP/Diagnose", json={"Mode": "verify"})
        assert again.status_code == 200 and again.json()["Success"] is True
        assert client.get("/KeyfactorAPI/SMTP/Status").json()["LastTest"]["TestId"] == \
            again.headers["x-test-id"]
