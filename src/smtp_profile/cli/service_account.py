"""`smtp-profile service-account set`, `show` and `delete`: the Google service account key.

Like `options`: on the local data dir, or on a running server with `--url`, speaking the
JSON of /SMTP/OAuth/ServiceAccount. The key file is read from a path (or `-` for standard
input) and sent whole; the private key is never printed. A type-3 profile uses the key
when its TokenEndpoint is the key's token_uri and its ClientId the key's client_id:
`smtp-profile set --preset google-service-account --key-file sa.json` sets both.
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
from smtp_profile.cli.profile import AsJson, BasePath, Url, User, _client, _run, upload_key
from smtp_profile.domain.service_account import GMAIL_HOST
from smtp_profile.settings import DEFAULT_BASE_PATH

service_account_app = typer.Typer(
    help="Upload, show or delete the Google service account key (OAuth 2.0 JWT bearer "
    "grant with domain-wide delegation), locally or on a running server with --url.",
    no_args_is_help=True, rich_markup_mode=None)
app.add_typer(service_account_app, name="service-account")

KeyFile = Annotated[Path, typer.Option(
    "--key-file", help="The service account's JSON key file ('-': standard input).")]


def read_key_file(path: Path) -> str:
    """The key file's text; a file that cannot be read is exit 2, naming it."""
    if str(path) == "-":
        return sys.stdin.read()
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"cannot read the key file {path}: "
                   f"{getattr(exc, 'strerror', None) or type(exc).__name__}", code=2) from None


def account_lines(body: dict[str, Any]) -> list[str]:
    if not body.get("Configured"):
        return ["Service account: none (type-3 profiles need a ClientSecret)"]
    return [
        f"Service account: {body['ClientEmail']}",
        f"Key id:          {body['PrivateKeyId']} (private key stored encrypted)",
        f"Client id:       {body['ClientId']}",
        f"Token URI:       {body['TokenUri']}",
        f"Relay:           {body['Host']}:{body['Port']} (UseSSL {body['UseSSL']})",
        f"Updated:         {body.get('UpdatedAt')} by {body.get('UpdatedBy')}",
    ]


@service_account_app.command("set")
def set_service_account(
    key_file: KeyFile,
    host: Annotated[str, typer.Option(
        help="The only relay the key's tokens may go to.")] = GMAIL_HOST,
    port: Annotated[int, typer.Option(help="That relay's port.")] = 587,
    url: Url = None,
    user: User = "admin",
    base_path: BasePath = DEFAULT_BASE_PATH,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Upload a service account key; it replaces the stored one.

    \b
    Examples:
      smtp-profile service-account set --key-file sa.json
      smtp-profile service-account set --key-file - --url https://smtp-profile:8443 < sa.json
    """
    text = read_key_file(key_file)
    saved = _run(_client(url, user, base_path, data_dir, database_url),
                 lambda c: upload_key(c, text, host, port))
    typer.echo(f"saved: key {saved['PrivateKeyId']} of {saved['ClientEmail']} for "
               f"{saved['Host']}:{saved['Port']}")


@service_account_app.command("show")
def show_service_account(
    as_json: AsJson = False,
    url: Url = None,
    user: User = "admin",
    base_path: BasePath = DEFAULT_BASE_PATH,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Show the stored key's service account, key id, client id and relay."""
    body, _ = _run(_client(url, user, base_path, data_dir, database_url),
                   lambda c: c.service_account())
    if as_json:
        typer.echo(json.dumps(body, indent=2))
        return
    for line in account_lines(body):
        typer.echo(line)


@service_account_app.command("delete")
def delete_service_account(
    url: Url = None,
    user: User = "admin",
    base_path: BasePath = DEFAULT_BASE_PATH,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Delete the stored key (a type-3 profile that used it then needs a ClientSecret)."""
    async def delete(client: ProfileClient) -> dict[str, Any]:
        _, etag = await client.service_account()
        return await client.delete_service_account(etag)

    _run(_client(url, user, base_path, data_dir, database_url), delete)
    typer.echo("deleted the service account key")
