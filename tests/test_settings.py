"""The settings object: flags over variables over defaults, and the values each accepts,
as `serve` and the admin commands read them (tests/test_settings_docs.py checks the docs).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from smtp_profile.cli.options import read_settings, settings_for
from smtp_profile.domain.outbound import OutboundPolicy, parse_ports
from smtp_profile.settings import Settings


@pytest.fixture(autouse=True)
def no_operator_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The suite sets SMTP_PROFILE_DATABASE_URL; these tests start from a bare environment."""
    monkeypatch.delenv("SMTP_PROFILE_DATABASE_URL", raising=False)


def refusal(given: dict[str, object], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(typer.Exit) as stopped:
        read_settings(given)
    assert stopped.value.exit_code == 1
    return capsys.readouterr().err


def test_a_flag_wins_over_its_variable_which_wins_over_the_default(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().connect_timeout == 10.0
    monkeypatch.setenv("SMTP_PROFILE_CONNECT_TIMEOUT", "3")
    assert read_settings({"connect_timeout": None}).connect_timeout == 3.0
    assert read_settings({"connect_timeout": 7.5}).connect_timeout == 7.5


def test_an_empty_variable_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PORT", "ALLOW_LINK_LOCAL", "OUTBOUND_PORTS", "CA_BUNDLE", "LOCAL_HOSTNAME"):
        monkeypatch.setenv(f"SMTP_PROFILE_{name}", "")
    settings = Settings()
    assert settings.port == 8080 and settings.ca_bundle is None
    assert settings.local_hostname is None
    assert settings.outbound == OutboundPolicy()


@pytest.mark.parametrize(("text", "allowed"), [
    ("1", True), ("true", True), ("YES", True), ("on", True), (" y ", True),
    ("0", False), ("false", False), ("No", False), ("off", False),
])
def test_on_off_values_read_as_click_reads_them(monkeypatch: pytest.MonkeyPatch, text: str,
                                                allowed: bool) -> None:
    monkeypatch.setenv("SMTP_PROFILE_ALLOW_LINK_LOCAL", text)
    assert settings_for(Path("d"), None).outbound.allow_link_local is allowed


def test_lists_are_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP_PROFILE_IMPLICIT_TLS_PORTS", "465, 2465")
    monkeypatch.setenv("SMTP_PROFILE_OUTBOUND_PORTS", "25, 587,8000-8002")
    monkeypatch.setenv("SMTP_PROFILE_OUTBOUND_HOSTS", "10.0.0.0/8, *.Corp.Example")
    monkeypatch.setenv("SMTP_PROFILE_TOKEN_ENDPOINT_HTTP_PORTS", "9000")
    monkeypatch.setenv("SMTP_PROFILE_TEST_RECIPIENT_DOMAINS", "corp.example, *.lab.example")
    monkeypatch.setenv("SMTP_PROFILE_TRUSTED_PROXIES", "10.0.0.1, 192.168.0.0/16")
    settings = settings_for(Path("d"), None)
    assert settings.implicit_tls_ports == frozenset({465, 2465})
    assert settings.outbound.ports == frozenset({25, 587, 8000, 8001, 8002})
    assert settings.outbound.names == ("*.corp.example",)
    assert settings.outbound.token_http_ports == frozenset({9000})
    assert settings.outbound.token_ports == parse_ports("443")
    assert settings.recipients.domains == ("corp.example", "*.lab.example")
    assert settings.trusted_proxies == ("10.0.0.1", "192.168.0.0/16")


def test_only_serve_refuses_its_own_port() -> None:
    settings = read_settings({"port": 2525})
    assert settings.outbound.refusal("relay", 2525, ["192.0.2.1"]) is None
    assert settings.serving().outbound.refusal("relay", 2525, ["192.0.2.1"]) == \
        "port 2525 is this service's own port"


def test_a_bad_value_names_the_flag_or_the_variable_it_came_from(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert "--token-endpoint-ports: 'https' is not a port" in refusal(
        {"token_endpoint_ports": "https"}, capsys)
    monkeypatch.setenv("SMTP_PROFILE_OUTBOUND_PORTS", "x")
    assert "SMTP_PROFILE_OUTBOUND_PORTS: 'x' is not a port or a range like 1025-65535" in \
        refusal({}, capsys)
    monkeypatch.delenv("SMTP_PROFILE_OUTBOUND_PORTS")
    monkeypatch.setenv("SMTP_PROFILE_ALLOW_LINK_LOCAL", "maybe")
    message = refusal({"data_dir": Path("d")}, capsys)
    assert "SMTP_PROFILE_ALLOW_LINK_LOCAL: Input should be a valid boolean" in message
    assert "'maybe'" in message


@pytest.mark.parametrize(("given", "expected"), [
    ({"implicit_tls_ports": "465 x"},
     "--implicit-tls-ports: 'x' is not a port or a range like 1025-65535"),
    ({"implicit_tls_ports": "0"}, "--implicit-tls-ports: '0' is outside 1-65535"),
    ({"test_recipient_domains": "-x-"}, "--test-recipient-domains: has an invalid label"),
    ({"outbound_hosts": "a/b"}, "--outbound-hosts: 'a/b' is neither a network nor a host"),
    ({"connect_timeout": 0.0}, "--connect-timeout: Input should be greater than or equal to"),
    ({"session_minutes": 7 * 24 * 60 + 1}, "--session-minutes: Input should be less than"),
    ({"log_level": "loud"}, "--log-level: must be one of debug, info, warning, error"),
    ({"ca_bundle": Path("/nonexistent")}, "--ca-bundle: Path does not point to a file, "
                                          "not '/nonexistent'"),
    ({"tls_cert": Path(__file__)}, "--tls-cert and --tls-key"),
])
def test_bad_values_are_refused_clearly(given: dict[str, object], expected: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert expected in refusal(given, capsys)


def test_the_key_never_shows_in_the_settings_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP_PROFILE_SECRET_KEY", "a-key-that-must-not-show")
    settings = Settings()
    assert settings.secret_key == "a-key-that-must-not-show"
    assert "a-key-that-must-not-show" not in repr(settings) + str(settings)
