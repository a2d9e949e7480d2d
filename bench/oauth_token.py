"""How much the access-token cache saves a type-3 test, measured on loopback.

Runs the real test conversation (STARTTLS, token step, AUTH XOAUTH2, one message) against
the test suite's aiosmtpd relay and token endpoint, first with a cached token, then with
the cache emptied before every run, and prints median and 95th percentile per case. The
token endpoint here answers at once; a real identity provider adds its own round trip
(typically 50-300 ms) to every uncached run.

    .venv/bin/python -m bench.oauth_token [runs]     (from the repository root)
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path

import trustme
from tests.support.oauth import Issuer, TokenEndpoint
from tests.support.resolver import StaticResolver
from tests.support.smtp import Behaviour, LoopThread, SmtpServer

from smtp_profile.domain.profile import Profile, ProfileDraft, build_profile
from smtp_profile.domain.secrets import Secret
from smtp_profile.domain.steps import TestReport
from smtp_profile.mailer.conversation import Mailer, MailerConfig


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def looked_up_and_run(mailer: Mailer, profile: Profile) -> TestReport:
    """One test as the service runs it: relay and token endpoint looked up once each."""
    return await mailer.run(profile, "pki@corp.local", resolution=await mailer.resolve(profile),
                            token_resolution=await mailer.resolve_token_endpoint(profile))


async def measure(mailer: Mailer, profile: Profile, runs: int, *, cached: bool) -> list[float]:
    timings: list[float] = []
    await looked_up_and_run(mailer, profile)  # warm up (and fill the cache)
    for _ in range(runs):
        if not cached:
            mailer.tokens.cache = type(mailer.tokens.cache)()
        started = time.perf_counter()
        report = await looked_up_and_run(mailer, profile)
        timings.append((time.perf_counter() - started) * 1000)
        if not report.success:
            raise SystemExit(report.failure_summary())
    return timings


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    # aiosmtpd (the test relay) logs a warning about its own deprecated attribute on
    # every login; keep the output to the measurements.
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("mail.test", "127.0.0.1").configure_cert(server_context)
    loop = LoopThread()
    issuer = Issuer(client_id="bench", client_secret="bench-secret",  # noqa: S106 - fake
                    tokens=["bench-token"])
    endpoint = TokenEndpoint(issuer)
    relay = SmtpServer(loop, mode="starttls", server_context=server_context,
                       behaviour=Behaviour(xoauth2_tokens=frozenset({"bench-token"})))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            bundle = Path(tmp) / "ca.pem"
            ca.cert_pem.write_to_path(str(bundle))
            mailer = Mailer(MailerConfig(ca_bundle=bundle, local_hostname="bench.test"),
                            resolver=StaticResolver({"mail.test": ["127.0.0.1"]}))
            profile = build_profile(ProfileDraft(
                host="mail.test", port=relay.port, auth_type=3, use_ssl=True,
                sender_account="svc@corp.local", sender_name="Bench", client_id="bench",
                client_secret=Secret("bench-secret"), token_endpoint=endpoint.url), Profile())
            for label, cached in (("cached token", True), ("token fetched", False)):
                before = len(endpoint.calls)
                timings = asyncio.run(measure(mailer, profile, runs, cached=cached))
                print(f"{label:14} runs={runs} median={statistics.median(timings):.1f} ms "
                      f"p95={percentile(timings, 0.95):.1f} ms "
                      f"token requests={len(endpoint.calls) - before}")
    finally:
        relay.close()
        endpoint.close()
        loop.stop()


if __name__ == "__main__":
    main()
