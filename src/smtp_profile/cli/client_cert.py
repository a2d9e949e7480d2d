"""`smtp-profile client-cert show|set|remove`: the relay client certificate.

Locally on the data dir, or with --url against a running server, like `show` and `set`.
The key and any password are read from files or a prompt, never from the command line
(shell history, `ps`); nothing secret is printed.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from smtp_profile.cli.app import app
from smtp_profile.cli.options import DatabaseUrl, DataDir, fail, read_password
from smtp_profile.cli.profile import AsJson, BasePath, Url, User, _client, _run
from smtp_profile.settings import DEFAULT_BASE_PATH

group = typer.Typer(help="The relay client certificate (mutual TLS to the relay).",
                    no_args_is_help=True)
app.add_typer(group, name="client-cert")

IfMatch = Annotated[str | None, typer.Option(
    "--if-match", help="Only if unchanged since this ETag (from `client-cert show`).")]


def certificate_lines(body: dict[str, Any], etag: str) -> list[str]:
    if not body.get("Configured"):
        return ["Client certificate: (none)", f"ETag:            {etag}"]
    bound = body.get("BoundTo") or {}
    usable = "yes" if body.get("Usable") else typer.style(
        "NO: " + "; ".join(body.get("UnusableReasons") or []), fg=typer.colors.YELLOW,
        bold=True)
    lines = [
        f"Subject:         {body['Subject']}",
        f"Issuer:          {body['Issuer']}",
        f"Serial:          {body['SerialNumber']}",
        f"SHA-256:         {body['Sha256']}",
        f"Not after:       {body['NotAfter']}",
        f"clientAuth:      {'yes' if body.get('ClientAuthUsage') else 'NO (relays may refuse it)'}",
        f"Bound to:        {bound.get('Host')}:{bound.get('Port')} "
        f"(UseSSL {'yes' if bound.get('UseSSL') else 'no'})",
        f"AUTH EXTERNAL:   {'when offered' if body.get('SaslExternal') else 'no'}",
        f"Usable now:      {usable}",
        "Private key:     (stored sealed; never shown)",
        f"ETag:            {etag}",
    ]
    return lines


@group.command("show")
def show(url: Url = None, user: User = "admin", base_path: BasePath = DEFAULT_BASE_PATH,
         data_dir: DataDir = None, database_url: DatabaseUrl = None,
         as_json: AsJson = False) -> None:
    """Show the client certificate: subject, issuer, serial, fingerprint, expiry, binding."""
    body, etag = _run(_client(url, user, base_path, data_dir, database_url),
                      lambda client: client.client_certificate())
    if as_json:
        typer.echo(json.dumps(body, indent=2))
        return
    for line in certificate_lines(body, etag):
        typer.echo(line)


@group.command("set")
def set_certificate(
    certificate: Annotated[Path | None, typer.Option(
        "--cert", exists=True, dir_okay=False,
        help="PEM file: the client certificate first, then intermediates.")] = None,
    key: Annotated[Path | None, typer.Option(
        "--key", exists=True, dir_okay=False, help="PEM private key file.")] = None,
    pkcs12: Annotated[Path | None, typer.Option(
        "--pkcs12", exists=True, dir_okay=False,
        help="PKCS#12 (.p12/.pfx) file instead of --cert/--key; its password is "
        "prompted for (or read from stdin with --password-stdin).")] = None,
    key_password: Annotated[bool, typer.Option(
        "--key-password", help="The PEM key is encrypted: prompt for its password.")] = False,
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Read the PKCS#12 or key password from stdin.")] = False,
    sasl_external: Annotated[bool, typer.Option(
        "--sasl-external", help="Send AUTH EXTERNAL when the relay offers it.")] = False,
    if_match: IfMatch = None,
    url: Url = None, user: User = "admin", base_path: BasePath = DEFAULT_BASE_PATH,
    data_dir: DataDir = None, database_url: DatabaseUrl = None,
) -> None:
    """Set the client certificate; it is bound to the stored Host, Port and UseSSL."""
    body: dict[str, Any] = {"SaslExternal": sasl_external}
    if pkcs12 is not None:
        if certificate is not None or key is not None:
            raise fail("give either --pkcs12 or --cert and --key")
        body["Pkcs12"] = base64.b64encode(pkcs12.read_bytes()).decode("ascii")
        body["Pkcs12Password"] = read_password(password_stdin, confirm=False,
                                               prompt="PKCS#12 password").reveal()
    elif certificate is not None and key is not None:
        body["CertificatePem"] = certificate.read_text("ascii", errors="replace")
        body["PrivateKeyPem"] = key.read_text("ascii", errors="replace")
        if key_password or password_stdin:
            body["PrivateKeyPassword"] = read_password(password_stdin, confirm=False,
                                                       prompt="Key password").reveal()
    else:
        raise fail("give --cert and --key, or --pkcs12")
    result = _run(_client(url, user, base_path, data_dir, database_url),
                  lambda client: client.set_client_certificate(body, if_match))
    for line in certificate_lines(result, "(see show)"):
        typer.echo(line)


@group.command("remove")
def remove(if_match: IfMatch = None, url: Url = None, user: User = "admin",
           base_path: BasePath = DEFAULT_BASE_PATH, data_dir: DataDir = None,
           database_url: DatabaseUrl = None) -> None:
    """Remove the client certificate and its key."""
    _run(_client(url, user, base_path, data_dir, database_url),
         lambda client: client.set_client_certificate(None, if_match))
    typer.echo("Client certificate removed.")
