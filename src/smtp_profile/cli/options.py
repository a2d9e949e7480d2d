"""Options and helpers shared by the commands.

Every option that touches data reads its SMTP_PROFILE_* environment variable too, so the
same data dir and database are found by `serve` and by the admin commands. Passwords are
read from a prompt or stdin, never from the command line, where they would land in shell
history and in `ps`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from smtp_profile.domain.outbound import (
    DEFAULT_PORTS,
    DEFAULT_TOKEN_PORTS,
    OutboundPolicy,
    PolicyError,
    parse_ports,
    parse_targets,
)
from smtp_profile.domain.profile import IMPLICIT_TLS_PORTS
from smtp_profile.domain.recipients import RecipientPolicy, parse_domains
from smtp_profile.domain.secrets import Secret
from smtp_profile.settings import DEFAULT_TESTS_PER_MINUTE, Settings, env

DataDir = Annotated[Path, typer.Option(
    "--data-dir", envvar="SMTP_PROFILE_DATA_DIR",
    help="Directory for the SQLite database, the key file and the initial admin password.",
)]
DatabaseUrl = Annotated[str | None, typer.Option(
    "--database-url", envvar="SMTP_PROFILE_DATABASE_URL",
    help="SQLAlchemy URL of the database; default: SQLite in the data dir.",
)]
PasswordStdin = Annotated[bool, typer.Option(
    "--password-stdin", help="Read the password from the first line of standard input.",
)]


def settings_for(data_dir: Path, database_url: str | None) -> Settings:
    """Settings for commands other than `serve`, from their options and the environment.

    The key comes only from the environment; the relay settings (trust, timeouts) are
    read from the same variables `serve` reads, so a local `test` behaves like the server.
    """
    ca_bundle = env("SMTP_PROFILE_CA_BUNDLE")
    ports = env("SMTP_PROFILE_IMPLICIT_TLS_PORTS")
    outbound, recipients = policy_limits(
        hosts=env("SMTP_PROFILE_OUTBOUND_HOSTS") or "",
        ports=env("SMTP_PROFILE_OUTBOUND_PORTS") or DEFAULT_PORTS,
        allow_link_local=(env("SMTP_PROFILE_ALLOW_LINK_LOCAL") or "").lower()
        in ("1", "true", "yes"),
        recipient_domains=env("SMTP_PROFILE_TEST_RECIPIENT_DOMAINS") or "",
        token_ports=env("SMTP_PROFILE_TOKEN_ENDPOINT_PORTS") or DEFAULT_TOKEN_PORTS,
        token_http_ports=env("SMTP_PROFILE_TOKEN_ENDPOINT_HTTP_PORTS") or "",
    )
    try:
        return Settings(
            data_dir=data_dir, database_url=database_url,
            secret_key=env("SMTP_PROFILE_SECRET_KEY"),
            ca_bundle=Path(ca_bundle) if ca_bundle else None,
            connect_timeout=float(env("SMTP_PROFILE_CONNECT_TIMEOUT") or 10.0),
            test_timeout=float(env("SMTP_PROFILE_TEST_TIMEOUT") or 30.0),
            local_hostname=env("SMTP_PROFILE_LOCAL_HOSTNAME"),
            implicit_tls_ports=parse_implicit_tls_ports(ports) if ports else IMPLICIT_TLS_PORTS,
            outbound=outbound, recipients=recipients,
            tests_per_minute=int(env("SMTP_PROFILE_TESTS_PER_MINUTE")
                                 or DEFAULT_TESTS_PER_MINUTE),
        )
    except ValueError as exc:
        raise fail(f"invalid SMTP_PROFILE_* setting: {exc}") from None


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def policy_limits(*, hosts: str, ports: str, allow_link_local: bool, recipient_domains: str,
                  token_ports: str = DEFAULT_TOKEN_PORTS, token_http_ports: str = "",
                  own_port: int | None = None) -> tuple[OutboundPolicy, RecipientPolicy]:
    """The operator's limits on Test and Diagnose, from their option texts."""
    try:
        networks, names = parse_targets(hosts)
        outbound = OutboundPolicy(
            ports=parse_ports(ports), networks=networks, names=names,
            allow_link_local=allow_link_local,
            own_ports=frozenset() if own_port is None else frozenset({own_port}),
            token_ports=parse_ports(token_ports),
            token_http_ports=parse_ports(token_http_ports),
        )
    except PolicyError as exc:
        raise fail(f"outbound policy: {exc}") from None
    try:
        recipients = RecipientPolicy(parse_domains(recipient_domains))
    except ValueError as exc:
        raise fail(f"--test-recipient-domains: {exc}") from None
    return outbound, recipients


def parse_implicit_tls_ports(text: str) -> frozenset[int]:
    """--implicit-tls-ports, by the grammar of every port setting (domain.outbound)."""
    try:
        return parse_ports(text)
    except PolicyError as exc:
        raise fail(f"--implicit-tls-ports: {exc}") from None


def read_password(from_stdin: bool, *, confirm: bool, prompt: str = "Password") -> Secret:
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            raise fail("--password-stdin given but standard input is empty")
        return Secret(line.rstrip("\r\n"))
    value: str = typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm)
    return Secret(value)
