"""`smtp-profile show`, `set` and `test`: the profile, on the local data dir or with --url.

Locally the commands open the data dir (or database) like `serve` does; with `--url` they
call a running server with Basic credentials (`SMTP_PROFILE_USER`,
`SMTP_PROFILE_PASSWORD`, or a prompt). Either way they speak the version-2 JSON shapes,
so the output is the same.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from smtp_profile.cli.app import app
from smtp_profile.cli.client import ClientError, LocalClient, ProfileClient, RemoteClient
from smtp_profile.cli.options import DatabaseUrl, DataDir, fail, read_password, settings_for
from smtp_profile.cli.terminal import (
    failure_lines,
    profile_lines,
    step_line,
    verdict,
    warning_lines,
)
from smtp_profile.domain.presets import PRESETS, preset_named
from smtp_profile.settings import DEFAULT_BASE_PATH
from smtp_profile.store.secret_box import SecretKeyError

T = TypeVar("T")

Url = Annotated[str | None, typer.Option(
    "--url", envvar="SMTP_PROFILE_URL",
    help="Base URL of a running server (e.g. http://127.0.0.1:8080); without it the "
    "command works on the local data dir.",
)]
User = Annotated[str, typer.Option(
    "--user", envvar="SMTP_PROFILE_USER",
    help="User for --url (DOMAIN\\user works); the password comes from "
    "SMTP_PROFILE_PASSWORD or a prompt.",
)]
BasePath = Annotated[str, typer.Option("--base-path", envvar="SMTP_PROFILE_BASE_PATH",
                                       help="API base path on the server.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]

AUTH_TYPES = {"anonymous": 0, "basic": 2, "oauth": 3}


def _client(url: str | None, user: str, base_path: str, data_dir: Path | None,
            database_url: str | None) -> ProfileClient:
    if url:
        password = os.environ.get("SMTP_PROFILE_PASSWORD")
        if password is None:
            password = read_password(False, confirm=False, prompt=f"Password for {user}")\
                .reveal()
        return RemoteClient(url, user, password, "/" + base_path.strip("/"))
    from smtp_profile.runtime import Runtime, prepare

    settings = settings_for(data_dir, database_url)
    try:
        prepare(settings)
        runtime = Runtime.open(settings)
    except SecretKeyError as exc:
        raise fail(str(exc)) from None
    return LocalClient(runtime, f"cli:{getpass.getuser()}")


def _run(client: ProfileClient, action: Callable[[ProfileClient], Awaitable[T]]) -> T:
    """Run one async action on the client; refusals and network errors become exit 2."""
    import httpx

    async def run() -> T:
        try:
            return await action(client)
        finally:
            await client.close()

    try:
        return asyncio.run(run())
    except ClientError as exc:
        code = f" ({exc.code})" if exc.code else ""
        raise fail(f"{exc.message}{code}", code=2) from None
    except httpx.HTTPError as exc:
        raise fail(f"cannot reach the server: {exc}", code=2) from None


@app.command()
def show(
    as_json: AsJson = False,
    url: Url = None,
    user: User = "admin",
    base_path: BasePath = DEFAULT_BASE_PATH,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Show the SMTP profile, whether secrets are stored, and its last test.

    \b
    Examples:
      smtp-profile show
      smtp-profile show --json --url http://127.0.0.1:8080 --user admin
    """
    async def fetch(client: ProfileClient) -> tuple[dict[str, Any], dict[str, Any]]:
        return await client.get(), await client.status()

    profile, status = _run(_client(url, user, base_path, data_dir, database_url), fetch)
    if as_json:
        typer.echo(json.dumps({"Profile": profile, "Status": status}, indent=2))
        return
    for line in profile_lines(profile, status):  # Status's Warnings among them
        typer.echo(line)


@app.command("set")
def set_profile(
    host: Annotated[str | None, typer.Option(help="Relay host name or IP.")] = None,
    port: Annotated[int | None, typer.Option(help="Relay port (25, 587, 465...).")] = None,
    use_ssl: Annotated[bool | None, typer.Option(
        "--use-ssl/--no-use-ssl", help="TLS: implicit on port 465, STARTTLS elsewhere.",
    )] = None,
    auth: Annotated[str | None, typer.Option(
        help="anonymous, basic or oauth.")] = None,
    username: Annotated[str | None, typer.Option(help="Relay username (basic).")] = None,
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Read the relay password from standard input.",
    )] = False,
    sender_account: Annotated[str | None, typer.Option(
        help="Sender e-mail address (From).")] = None,
    sender_name: Annotated[str | None, typer.Option(help="Sender display name.")] = None,
    preset: Annotated[str | None, typer.Option(
        help="Fill the fields a provider documents first: " + ", ".join(
            p.name for p in PRESETS) + ". Options given beside it win.")] = None,
    tenant: Annotated[str | None, typer.Option(
        help="Microsoft Entra tenant id or domain (--preset microsoft-365).")] = None,
    region: Annotated[str | None, typer.Option(
        help="AWS Region (--preset amazon-ses) or us/eu (--preset mailgun).")] = None,
    key_file: Annotated[Path | None, typer.Option(
        "--key-file", help="A Google service account's JSON key (--preset "
        "google-service-account): uploaded, and ClientId and TokenEndpoint taken from it.",
    )] = None,
    client_id: Annotated[str | None, typer.Option(help="OAuth ClientId (oauth).")] = None,
    token_endpoint: Annotated[str | None, typer.Option(
        help="OAuth token endpoint URL (oauth).")] = None,
    scope: Annotated[str | None, typer.Option(help="OAuth scope (oauth).")] = None,
    client_secret_stdin: Annotated[bool, typer.Option(
        "--client-secret-stdin", help="Read the OAuth client secret from standard input.",
    )] = False,
    url: Url = None,
    user: User = "admin",
    base_path: BasePath = DEFAULT_BASE_PATH,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Change fields of the SMTP profile; the others keep their values.

    The stored password is kept unless --password-stdin gives a new one; changing the host,
    port, TLS, auth type or username requires it again (it is only ever sent to the
    server it was saved for). There is deliberately no --password option.

    A preset fills Host, Port, UseSSL, the auth type and what the provider fixes
    (SendGrid's user name, Microsoft's token endpoint and scope); it hides nothing and
    the credentials are still yours to give.

    \b
    Examples:
      smtp-profile set --host smtp.corp.local --port 587 --use-ssl
      printf '%s\\n' "$RELAY_PASSWORD" | smtp-profile set --auth basic \\
          --username svc@corp.local --password-stdin
      printf '%s\\n' "$SECRET" | smtp-profile set --preset microsoft-365 \\
          --tenant contoso.onmicrosoft.com --client-id 0000... --client-secret-stdin
      smtp-profile set --preset google-service-account --key-file sa.json
      printf '%s\\n' "$SENDGRID_API_KEY" | smtp-profile set --preset sendgrid --password-stdin
    """
    auth_type = None
    if auth is not None:
        if auth.lower() not in AUTH_TYPES:
            raise fail("--auth must be anonymous, basic or oauth", code=2)
        auth_type = AUTH_TYPES[auth.lower()]
    if password_stdin and client_secret_stdin:
        raise fail("give --password-stdin or --client-secret-stdin, not both", code=2)
    filled, key_text = _preset_fields(preset, tenant, region, key_file)
    password = read_password(True, confirm=False) if password_stdin else None
    client_secret = read_password(True, confirm=False) if client_secret_stdin else None

    async def change(client: ProfileClient) -> dict[str, Any]:
        body = await client.get()
        body["RelayPassword"] = None
        body["ClientSecret"] = None
        body.update(filled)
        if key_text is not None:
            account = await upload_key(client, key_text, host or body["Host"],
                                       port or body["Port"])
            body["ClientId"] = {"SecretValue": account["ClientId"]}
            body["TokenEndpoint"] = account["TokenUri"]
        for key, value in (("Host", host), ("Port", port), ("UseSSL", use_ssl),
                           ("RelayAuthenticationType", auth_type),
                           ("SenderAccount", sender_account), ("SenderName", sender_name),
                           ("TokenEndpoint", token_endpoint), ("Scope", scope)):
            if value is not None:
                body[key] = value
        if username is not None:
            body["RelayUsername"] = {"SecretValue": username}
        if client_id is not None:
            body["ClientId"] = {"SecretValue": client_id}
        if password is not None:
            body["RelayPassword"] = {"SecretValue": password.reveal()}
        if client_secret is not None:
            body["ClientSecret"] = {"SecretValue": client_secret.reveal()}
        return await client.put(body)

    client = _client(url, user, base_path, data_dir, database_url)
    saved = _run(client, change)
    typer.echo(f"saved: {saved['Host']}:{saved['Port']} "
               f"(auth {saved['RelayAuthenticationType']}, UseSSL {saved['UseSSL']})")


def _preset_fields(name: str | None, tenant: str | None, region: str | None,
                   key_file: Path | None) -> tuple[dict[str, Any], str | None]:
    """The fields `--preset` fills, and the key file's text to upload (or None)."""
    from smtp_profile.cli.service_account import read_key_file
    from smtp_profile.domain.errors import ValidationFailed

    if name is None:
        if tenant or region or key_file:
            raise fail("--tenant, --region and --key-file go with --preset", code=2)
        return {}, None
    if tenant and region:
        raise fail("give --tenant or --region, not both", code=2)
    try:
        chosen = preset_named(name)
        filled = chosen.fields(tenant or region)
    except ValidationFailed as exc:
        raise fail(exc.message, code=2) from None
    if key_file is not None and chosen.name != "google-service-account":
        raise fail("--key-file goes with --preset google-service-account", code=2)
    return filled, None if key_file is None else read_key_file(key_file)


async def upload_key(client: ProfileClient, text: str, host: str,
                     port: int) -> dict[str, Any]:
    """Upload a service account key for the relay `host`:`port` (If-Match its ETag)."""
    _, etag = await client.service_account()
    return await client.put_service_account(
        {"KeyFile": text, "Host": host, "Port": port, "UseSSL": True}, etag)


@app.command("test")
def run_test_command(
    recipient: Annotated[str, typer.Argument(help="Address to send the test message to.")],
    verify_only: Annotated[bool, typer.Option(
        "--verify-only", help="Stop after RCPT TO (then RSET, QUIT): deliver nothing.",
    )] = False,
    mechanism: Annotated[str | None, typer.Option(
        help="AUTH mechanism for this run: auto, PLAIN or LOGIN.")] = None,
    as_json: AsJson = False,
    url: Url = None,
    user: User = "admin",
    base_path: BasePath = DEFAULT_BASE_PATH,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Test the stored profile step by step; exit 0 on success, 1 if a step failed.

    Each step is printed as it finishes, with a hint for a failure. Exit code 2 means the
    test could not start (invalid profile, server unreachable, no permission).

    \b
    Examples:
      smtp-profile test pki-admin@corp.local
      smtp-profile test pki-admin@corp.local --verify-only --json
      SMTP_PROFILE_PASSWORD=... smtp-profile test me@corp.local --url https://smtp-profile:8443
    """
    body: dict[str, Any] = {"TestRecipient": recipient,
                            "Mode": "verify" if verify_only else "send"}
    if mechanism:
        body["Mechanism"] = mechanism

    def on_step(step: dict[str, Any]) -> None:
        if as_json:
            return
        typer.echo(step_line(step))
        if step["Status"] == "failed":
            for line in failure_lines(step):
                typer.echo(line)

    if not as_json:
        mode = "verify only, nothing is delivered" if verify_only else "send"
        typer.echo(f"Testing the stored SMTP profile -> {recipient} ({mode})")
    client = _client(url, user, base_path, data_dir, database_url)
    report = _run(client, lambda c: c.diagnose(body, on_step))
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        for step in report["Steps"]:
            if step["Status"] == "skipped":
                typer.echo(step_line(step))
        typer.echo(verdict(report))
        for line in warning_lines(report.get("Warnings") or []):
            typer.echo(line)
    raise typer.Exit(0 if report["Success"] else 1)
