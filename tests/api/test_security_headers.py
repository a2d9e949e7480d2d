"""Headers that protect browsers: no HTML answer may be framed, each has a CSP, and over
HTTPS every answer carries Strict-Transport-Security.

(tests/web/test_reference_page.py shows in Chromium that the API reference still works
under its policy and really cannot be framed.)
"""

from __future__ import annotations

import base64
import hashlib
import re
import ssl
from pathlib import Path

import httpx
import trustme

from tests.support.service import (
    REQUESTED_WITH,
    RunningService,
    service_settings,
    start_service,
)

HTML_PATHS = ["/", "/KeyfactorAPI/Documentation", "/web/static/index.html"]


def test_every_html_answer_refuses_framing_and_has_a_policy(service: RunningService) -> None:
    for path in HTML_PATHS:
        answer = httpx.get(f"{service.url}{path}")
        assert answer.status_code == 200, path
        assert answer.headers["content-type"].startswith("text/html"), path
        policy = answer.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy, path
        assert "default-src 'none'" in policy, path
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy, path
        assert answer.headers["x-frame-options"] == "DENY", path
        assert "strict-transport-security" not in answer.headers, path  # plain HTTP


def test_the_reference_page_allows_exactly_its_own_inline_script(
        service: RunningService) -> None:
    answer = httpx.get(f"{service.url}/KeyfactorAPI/Documentation")
    scripts = re.findall(r"<script>(.*?)</script>", answer.text, re.DOTALL)
    assert len(scripts) == 1
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    policy = answer.headers["content-security-policy"]
    assert f"script-src 'self' 'sha256-{digest}';" in policy
    assert answer.headers["x-content-type-options"] == "nosniff"


def test_https_answers_carry_strict_transport_security(tmp_path: Path,
                                                       ca: trustme.CA) -> None:
    pem = tmp_path / "server.pem"
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(pem))
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    running = start_service(service_settings(tmp_path / "d"), tls_pem=pem)
    try:
        verify = ssl.create_default_context(cafile=str(ca_file))
        with httpx.Client(base_url=running.url, verify=verify,
                          auth=("admin", running.admin_password),
                          headers={**REQUESTED_WITH, "x-keyfactor-api-version": "2"}) as api:
            # The second GET of the profile takes the fast path in front of the routes.
            answers = [api.get("/KeyfactorAPI/SMTP"), api.get("/KeyfactorAPI/SMTP"),
                       api.get("/KeyfactorAPI/NoSuchRoute"),
                       *(api.get(path) for path in HTML_PATHS)]
        assert [a.status_code for a in answers] == [200, 200, 404, 200, 200, 200]
        for answer in answers:
            assert answer.headers["strict-transport-security"] == "max-age=31536000"
        assert "x-frame-options" not in answers[0].headers  # JSON needs no framing rule
    finally:
        running.stop()
