"""`smtp-profile serve`: start the API."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from smtp_profile import __version__
from smtp_profile.cli.app import app
from smtp_profile.cli.options import (
    DatabaseUrl,
    DataDir,
    fail,
    parse_implicit_tls_ports,
    policy_limits,
    settings_for,
)
from smtp_profile.domain.outbound import DEFAULT_PORTS, DEFAULT_TOKEN_PORTS
from smtp_profile.settings import (
    DEFAULT_AUDIT_RETENTION_DAYS,
    DEFAULT_BASE_PATH,
    DEFAULT_CONNECTIONS_PER_ADDRESS,
    DEFAULT_DATA_DIR,
    DEFAULT_MAX_CONCURRENT_TESTS,
    DEFAULT_REQUEST_READ_TIMEOUT,
    DEFAULT_SESSION_MINUTES,
    DEFAULT_TESTS_PER_MINUTE,
)
from smtp_profile.store.secret_box import SecretKeyError


@app.command()
def serve(
    host: Annotated[str, typer.Option(envvar="SMTP_PROFILE_HOST",
                                      help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="SMTP_PROFILE_PORT",
                                      help="TCP port to listen on.")] = 8080,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    database_url: DatabaseUrl = None,
    base_path: Annotated[str, typer.Option(
        envvar="SMTP_PROFILE_BASE_PATH", help="Path the API is served under.",
    )] = DEFAULT_BASE_PATH,
    ca_bundle: Annotated[Path | None, typer.Option(
        envvar="SMTP_PROFILE_CA_BUNDLE", exists=True, dir_okay=False,
        help="Extra PEM CA certificates trusted for relay TLS (besides the system store).",
    )] = None,
    connect_timeout: Annotated[float, typer.Option(
        envvar="SMTP_PROFILE_CONNECT_TIMEOUT", min=0.1,
        help="Seconds to wait for the relay's TCP connection and greeting.",
    )] = 10.0,
    test_timeout: Annotated[float, typer.Option(
        envvar="SMTP_PROFILE_TEST_TIMEOUT", min=0.1,
        help="Seconds a whole test e-mail conversation may take.",
    )] = 30.0,
    auth_domain: Annotated[str | None, typer.Option(
        envvar="SMTP_PROFILE_AUTH_DOMAIN",
        help="If set, a DOMAIN\\user login must name this domain; otherwise it is ignored.",
    )] = None,
    local_hostname: Annotated[str | None, typer.Option(
        envvar="SMTP_PROFILE_LOCAL_HOSTNAME", help="Name sent in EHLO; default: this host.",
    )] = None,
    implicit_tls_ports: Annotated[str, typer.Option(
        envvar="SMTP_PROFILE_IMPLICIT_TLS_PORTS",
        help="Ports where UseSSL means TLS from the first byte (comma-separated); "
        "on other ports UseSSL means STARTTLS.",
    )] = "465",
    session_minutes: Annotated[int, typer.Option(
        envvar="SMTP_PROFILE_SESSION_MINUTES", min=1, max=7 * 24 * 60,
        help="Minutes a web page sign-in lasts before the user must sign in again.",
    )] = DEFAULT_SESSION_MINUTES,
    log_level: Annotated[str, typer.Option(
        envvar="SMTP_PROFILE_LOG_LEVEL", help="debug, info, warning or error.",
    )] = "info",
    audit_retention_days: Annotated[int, typer.Option(
        envvar="SMTP_PROFILE_AUDIT_RETENTION_DAYS", min=0,
        help="Days audit records are kept (pruned at start and hourly); 0 keeps them forever.",
    )] = DEFAULT_AUDIT_RETENTION_DAYS,
    outbound_hosts: Annotated[str, typer.Option(
        envvar="SMTP_PROFILE_OUTBOUND_HOSTS",
        help="Hosts and networks Test and Diagnose may connect to, comma-separated "
        "(smtp.corp.example, *.corp.example, 10.0.0.0/8); empty: any host.",
    )] = "",
    outbound_ports: Annotated[str, typer.Option(
        envvar="SMTP_PROFILE_OUTBOUND_PORTS",
        help="Ports Test and Diagnose may connect to (this service's own port never).",
    )] = DEFAULT_PORTS,
    allow_link_local: Annotated[bool, typer.Option(
        envvar="SMTP_PROFILE_ALLOW_LINK_LOCAL",
        help="Let tests reach link-local addresses (169.254.0.0/16, fe80::/10), where cloud "
        "metadata services live. Off by default.",
    )] = False,
    token_endpoint_ports: Annotated[str, typer.Option(
        envvar="SMTP_PROFILE_TOKEN_ENDPOINT_PORTS",
        help="Ports an https OAuth TokenEndpoint may use (this service's own port never).",
    )] = DEFAULT_TOKEN_PORTS,
    token_endpoint_http_ports: Annotated[str, typer.Option(
        envvar="SMTP_PROFILE_TOKEN_ENDPOINT_HTTP_PORTS",
        help="Ports a plain-http OAuth TokenEndpoint on this machine (loopback) may use; "
        "empty: plain http is refused.",
    )] = "",
    test_recipient_domains: Annotated[str, typer.Option(
        envvar="SMTP_PROFILE_TEST_RECIPIENT_DOMAINS",
        help="If set, test messages may only go to these domains (comma-separated, "
        "*.example for subdomains).",
    )] = "",
    tests_per_minute: Annotated[int, typer.Option(
        envvar="SMTP_PROFILE_TESTS_PER_MINUTE", min=0,
        help="Tests and diagnoses each user may run per minute, across all instances; "
        "0: no limit.",
    )] = DEFAULT_TESTS_PER_MINUTE,
    max_concurrent_tests: Annotated[int, typer.Option(
        envvar="SMTP_PROFILE_MAX_CONCURRENT_TESTS", min=1,
        help="Tests and diagnoses this instance runs at once, for all users together; "
        "beyond it a test is refused with 503 and Retry-After.",
    )] = DEFAULT_MAX_CONCURRENT_TESTS,
    request_read_timeout: Annotated[float, typer.Option(
        envvar="SMTP_PROFILE_REQUEST_READ_TIMEOUT", min=0.1,
        help="Seconds a client has to send a whole request (headers and body) once it "
        "connects or its previous answer ends; a slower connection is closed.",
    )] = DEFAULT_REQUEST_READ_TIMEOUT,
    connections_per_address: Annotated[int, typer.Option(
        envvar="SMTP_PROFILE_CONNECTIONS_PER_ADDRESS", min=0,
        help="Connections one client address (IPv6: one /64) may hold open at once; "
        "more are answered 429 and closed. Trusted proxies are exempt. 0: no limit.",
    )] = DEFAULT_CONNECTIONS_PER_ADDRESS,
    tls_cert: Annotated[Path | None, typer.Option(
        envvar="SMTP_PROFILE_TLS_CERT", exists=True, dir_okay=False,
        help="PEM certificate (chain) to serve HTTPS; needs --tls-key.",
    )] = None,
    tls_key: Annotated[Path | None, typer.Option(
        envvar="SMTP_PROFILE_TLS_KEY", exists=True, dir_okay=False,
        help="PEM private key for --tls-cert.",
    )] = None,
    trusted_proxies: Annotated[str, typer.Option(
        envvar="SMTP_PROFILE_TRUSTED_PROXIES",
        help="Addresses of reverse proxies whose X-Forwarded-For/-Proto headers are "
        "believed (comma-separated IPs or networks); empty: none.",
    )] = "",
) -> None:
    """Start the API (and create the data dir, schema, key and admin user on first start).

    Example: smtp-profile serve --port 8080 --data-dir /var/lib/smtp-profile
    """
    import uvicorn

    from smtp_profile.logs import configure_logging
    from smtp_profile.runtime import Runtime, prepare
    from smtp_profile.server.app import create_app
    from smtp_profile.server.listener import server_config

    configure_logging(log_level)
    if (tls_cert is None) != (tls_key is None):
        raise fail("--tls-cert and --tls-key go together")
    outbound, recipients = policy_limits(
        hosts=outbound_hosts, ports=outbound_ports, allow_link_local=allow_link_local,
        recipient_domains=test_recipient_domains, token_ports=token_endpoint_ports,
        token_http_ports=token_endpoint_http_ports, own_port=port)
    proxies = [p.strip() for p in trusted_proxies.split(",") if p.strip()]
    settings = replace(
        settings_for(data_dir, database_url), base_path=base_path, ca_bundle=ca_bundle,
        connect_timeout=connect_timeout, test_timeout=test_timeout,
        auth_domain=auth_domain, local_hostname=local_hostname,
        implicit_tls_ports=parse_implicit_tls_ports(implicit_tls_ports),
        session_minutes=session_minutes,
        audit_retention_days=audit_retention_days, outbound=outbound,
        recipients=recipients, tests_per_minute=tests_per_minute,
        max_concurrent_tests=max_concurrent_tests, request_read_timeout=request_read_timeout,
        connections_per_address=connections_per_address,
    )
    try:
        prepare(settings)
        runtime = Runtime.open(settings)
    except SecretKeyError as exc:
        raise fail(str(exc)) from None
    scheme = "https" if tls_cert else "http"
    origin = f"{scheme}://{host}:{port}"
    typer.echo(f"smtp-profile {__version__}: data in {data_dir.resolve()}; web page at "
               f"{origin}/, API at {origin}{settings.normalized_base_path}/SMTP, docs at "
               f"{origin}{settings.normalized_base_path}/Documentation")
    uvicorn.Server(server_config(
        create_app(runtime), settings, host=host, port=port, log_level=log_level.lower(),
        trusted_proxies=proxies, ssl_certfile=tls_cert, ssl_keyfile=tls_key)).run()
