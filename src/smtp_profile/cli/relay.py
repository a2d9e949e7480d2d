"""`smtp-profile options show` and `options set`: the relay's trust and AUTH mechanism.

Like `show` and `set` for the profile: on the local data dir, or on a running server with
`--url`, speaking the JSON of GET/PUT /SMTP/Options. `set` reads the options with their
ETag, changes only what it was told to, and writes them back with If-Match, so a change
someone made in between is refused (exit 2) rather than silently undone.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from smtp_profile.cli.app import app
from smtp_profile.cli.client import ProfileClient
from smtp_profile.cli.options import DatabaseUrl, DataDir, fail
from smtp_profile.cli.profile import AsJson, BasePath, Url, User, _client, _run
from smtp_profile.settings import DEFAULT_BASE_PATH

options_app = typer.Typer(
    help="Show or change the relay's trust (CA bundle, pinned certificate, insecure) and "
    "AUTH mechanism, locally or on a running server with --url.",
    no_args_is_help=True, rich_markup_mode=None)
app.add_typer(options_app, name="options")


def option_lines(options: dict[str, Any]) -> list[str]:
    """The options as a person reads them; an insecure trust says so in capitals."""
    bundle = options.get("CaBundle")
    certificates = bundle.count("BEGIN CERTIFICATE") if bundle else 0
    trust = options["Trust"]
    if trust == "insecure":
        trust += " -- certificates are NOT verified"
    return [
        f"Trust:           {trust}",
        f"CA bundle:       {f'{certificates} certificate(s)' if bundle else 'none'}",
        f"Pinned SHA-256:  {options.get('PinnedSha256') or 'none'}",
        f"Insecure:        {'YES' if options.get('Insecure') else 'no'}",
        f"AUTH mechanism:  {options['Mechanism']}",
    ]


@options_app.command("show")
def show_options(
    as_json: AsJson = False,
    url: Url = None,
    user: User = "admin",
    base_path: BasePath = DEFAULT_BASE_PATH,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Show the relay options: trust mode, CA bundle, pinned certificate, mechanism.

    \b
    Examples:
      smtp-profile options show
      smtp-profile options show --json --url http://127.0.0.1:8080 --user admin
    """
    async def fetch(client: ProfileClient) -> dict[str, Any]:
        return (await client.options())[0]

    options = _run(_client(url, user, base_path, data_dir, database_url), fetch)
    if as_json:
        typer.echo(json.dumps(options, indent=2))
        return
    for line in option_lines(options):
        typer.echo(line)


def _read_bundle(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"--ca-bundle {path}: cannot read a PEM file ({exc})", code=2) from None


@options_app.command("set")
def set_options(
    ca_bundle: Annotated[str | None, typer.Option(
        "--ca-bundle", metavar="FILE",
        help="Trust the PEM CA certificates in FILE for this relay ('-': standard input).",
    )] = None,
    no_ca_bundle: Annotated[bool, typer.Option(
        "--no-ca-bundle", help="Remove the relay's CA bundle.")] = False,
    pin: Annotated[str | None, typer.Option(
        "--pin", metavar="SHA256",
        help="Trust exactly the certificate with this SHA-256 fingerprint (a self-signed "
        "relay); colons are allowed.")] = None,
    no_pin: Annotated[bool, typer.Option("--no-pin", help="Remove the pin.")] = False,
    insecure: Annotated[bool | None, typer.Option(
        "--insecure/--no-insecure",
        help="Switch certificate verification off (shown as insecure everywhere) or on "
        "again.")] = None,
    mechanism: Annotated[str | None, typer.Option(
        help="AUTH mechanism for Basic: auto, PLAIN or LOGIN.")] = None,
    as_json: AsJson = False,
    url: Url = None,
    user: User = "admin",
    base_path: BasePath = DEFAULT_BASE_PATH,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Change the relay options; the others keep their values.

    The change is refused (exit 2) if the options changed since they were read, and
    recorded in the audit trail either way.

    \b
    Examples:
      smtp-profile options set --ca-bundle /etc/ssl/relay-ca.pem
      smtp-profile options set --pin AB:CD:...:EF --mechanism LOGIN
      smtp-profile options set --no-pin --no-insecure --url http://127.0.0.1:8080
    """
    if ca_bundle is not None and no_ca_bundle:
        raise fail("--ca-bundle and --no-ca-bundle contradict each other", code=2)
    if pin is not None and no_pin:
        raise fail("--pin and --no-pin contradict each other", code=2)
    if (ca_bundle, pin, insecure, mechanism) == (None, None, None, None) and not (
            no_ca_bundle or no_pin):
        raise fail("nothing to change: give at least one option (see --help)", code=2)
    bundle = _read_bundle(ca_bundle) if ca_bundle is not None else None

    async def change(client: ProfileClient) -> dict[str, Any]:
        body, etag = await client.options()
        body.pop("Trust", None)  # derived from the fields below, which may change
        for key, value in (("CaBundle", bundle), ("PinnedSha256", pin),
                           ("Insecure", insecure), ("Mechanism", mechanism)):
            if value is not None:
                body[key] = value
        if no_ca_bundle:
            body["CaBundle"] = None
        if no_pin:
            body["PinnedSha256"] = None
        return await client.put_options(body, etag or None)

    saved = _run(_client(url, user, base_path, data_dir, database_url), change)
    if as_json:
        typer.echo(json.dumps(saved, indent=2))
        return
    typer.echo("saved:")
    for line in option_lines(saved):
        typer.echo(f"  {line}")
    if saved["Insecure"]:
        typer.echo("warning: certificate verification is off for this relay", err=True)
