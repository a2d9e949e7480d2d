"""`smtp-profile oauth-credential show|set|delete`: the OAuth certificate credential.

On the local data dir, or on a running server with `--url`, speaking the JSON of
GET/PUT/DELETE /SMTP/OAuth/Credential. `set` reads the credential with its ETag, changes
what it was told to, and writes it back with If-Match (a change made in between: exit 2).
The private key and the PKCS#12 password are read from files and a prompt or stdin, never
from the command line.
"""

from __future__ import annotations

import asyncio
import base64
import getpass
import json
import os
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Protocol, TypeVar

import typer

from smtp_profile.cli.app import app
from smtp_profile.cli.options import (
    DatabaseUrl,
    DataDir,
    PasswordStdin,
    fail,
    read_password,
    settings_for,
)
from smtp_profile.cli.profile import AsJson, BasePath, Url, User
from smtp_profile.settings import DEFAULT_BASE_PATH

T = TypeVar("T")
PATH = "/SMTP/OAuth/Credential"

credential_app = typer.Typer(
    help="Show, set or remove the certificate that signs OAuth token requests (instead of "
    "a client secret) and the client secret's expiry, locally or with --url.",
    no_args_is_help=True, rich_markup_mode=None)
app.add_typer(credential_app, name="oauth-credential")


class _Refused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class _Access(Protocol):
    async def get(self) -> tuple[dict[str, Any], str]: ...

    async def put(self, body: dict[str, Any], etag: str | None) -> dict[str, Any]: ...

    async def delete(self, etag: str | None) -> dict[str, Any]: ...

    async def close(self) -> None: ...


class _Local:
    def __init__(self, data_dir: Path | None, database_url: str | None) -> None:
        from smtp_profile.domain.actor import Actor
        from smtp_profile.runtime import Runtime, prepare

        settings = settings_for(data_dir, database_url)
        prepare(settings)
        self._runtime = Runtime.open(settings)
        self._actor = Actor(f"cli:{getpass.getuser()}", "local")

    async def _answer(self, stored: Any) -> dict[str, Any]:
        from smtp_profile.wire.oauth_credential import encode_credential

        service = self._runtime.oauth_credentials
        return encode_credential(stored, in_use=await service.in_use(stored))

    async def get(self) -> tuple[dict[str, Any], str]:
        from smtp_profile.wire.oauth_credential import credential_etag

        stored = await self._runtime.oauth_credentials.get()
        return await self._answer(stored), credential_etag(stored.version)

    async def put(self, body: dict[str, Any], etag: str | None) -> dict[str, Any]:
        from smtp_profile.domain.errors import DomainError
        from smtp_profile.wire.oauth_credential import credential_version, decode_credential

        try:
            stored = await self._runtime.oauth_credentials.replace(
                decode_credential(body), actor=self._actor,
                expected_version=credential_version(etag))
        except DomainError as exc:
            raise _Refused(exc.kind.code, exc.message) from None
        return await self._answer(stored)

    async def delete(self, etag: str | None) -> dict[str, Any]:
        from smtp_profile.domain.errors import DomainError
        from smtp_profile.wire.oauth_credential import credential_version

        try:
            stored = await self._runtime.oauth_credentials.delete(
                actor=self._actor, expected_version=credential_version(etag))
        except DomainError as exc:
            raise _Refused(exc.kind.code, exc.message) from None
        return await self._answer(stored)

    async def close(self) -> None:
        await self._runtime.close()


class _Remote:
    def __init__(self, url: str, user: str, base_path: str) -> None:
        import httpx

        password = os.environ.get("SMTP_PROFILE_PASSWORD")
        if password is None:
            password = read_password(False, confirm=False,
                                     prompt=f"Password for {user}").reveal()
        self._path = "/" + base_path.strip("/") + PATH
        self._http = httpx.AsyncClient(
            base_url=url.rstrip("/"), auth=(user, password), timeout=30.0,
            headers={"x-keyfactor-requested-with": "APIClient",
                     "x-keyfactor-api-version": "2"})

    async def _call(self, method: str, body: dict[str, Any] | None = None,
                    etag: str | None = None) -> tuple[dict[str, Any], str]:
        headers = {"if-match": etag} if etag else {}
        response = await self._http.request(method, self._path, json=body, headers=headers)
        try:
            answer: dict[str, Any] = response.json()
        except ValueError:
            raise _Refused("", f"HTTP {response.status_code} from {self._path}") from None
        if response.status_code != 200:
            raise _Refused(str(answer.get("ErrorCode", "")), str(answer.get("Message", "")))
        return answer, response.headers.get("etag", "")

    async def get(self) -> tuple[dict[str, Any], str]:
        return await self._call("GET")

    async def put(self, body: dict[str, Any], etag: str | None) -> dict[str, Any]:
        return (await self._call("PUT", body, etag))[0]

    async def delete(self, etag: str | None) -> dict[str, Any]:
        return (await self._call("DELETE", None, etag))[0]

    async def close(self) -> None:
        await self._http.aclose()


def _run(url: str | None, user: str, base_path: str, data_dir: Path | None,
         database_url: str | None, action: Callable[[_Access], Awaitable[T]]) -> T:
    import httpx

    from smtp_profile.store.secret_box import SecretKeyError

    try:
        access: _Access = (_Remote(url, user, base_path) if url
                           else _Local(data_dir, database_url))
    except SecretKeyError as exc:
        raise fail(str(exc)) from None

    async def run() -> T:
        try:
            return await action(access)
        finally:
            await access.close()

    try:
        return asyncio.run(run())
    except _Refused as exc:
        code = f" ({exc.code})" if exc.code else ""
        raise fail(f"{exc.message}{code}", code=2) from None
    except httpx.HTTPError as exc:
        raise fail(f"cannot reach the server: {exc}", code=2) from None


def credential_lines(body: dict[str, Any]) -> list[str]:
    """The credential as a person reads it (never a key: the API has none to give)."""
    info = body.get("CertificateInfo")
    lines = []
    if info is None:
        lines.append("Certificate:          none (the client secret is used)")
    else:
        lines += [
            f"Certificate:          {info['Subject']} (issuer {info['Issuer']})",
            f"Thumbprint (SHA-1):   {info['Thumbprint']}",
            f"x5t#S256:             {info['X5tS256']}",
            f"Valid:                {info['NotBefore']} to {info['NotAfter']}",
            f"Key, algorithm:       {info['KeyType']}, {info['Algorithm']}",
            f"Bound to:             {body['TokenEndpoint']} client {body['ClientId']}, "
            f"relay {body['Host']}:{body['Port']}{' TLS' if body['UseSSL'] else ''}",
            f"In use:               {'yes' if body['InUse'] else 'no (profile differs)'}",
        ]
    lines.append(f"Client secret expires: {body.get('ClientSecretExpires') or 'not recorded'}")
    return lines


@credential_app.command("show")
def show_credential(
    as_json: AsJson = False,
    url: Url = None,
    user: User = "admin",
    base_path: BasePath = DEFAULT_BASE_PATH,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Show the OAuth certificate credential and the client secret's recorded expiry.

    \b
    Examples:
      smtp-profile oauth-credential show
      smtp-profile oauth-credential show --json --url http://127.0.0.1:8080
    """
    async def fetch(access: _Access) -> dict[str, Any]:
        return (await access.get())[0]

    body = _run(url, user, base_path, data_dir, database_url, fetch)
    if as_json:
        typer.echo(json.dumps(body, indent=2))
        return
    for line in credential_lines(body):
        typer.echo(line)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise fail(f"{what} {path}: cannot read it ({exc})", code=2) from None


@credential_app.command("set")
def set_credential(
    certificate: Annotated[Path | None, typer.Option(
        "--certificate", metavar="FILE", help="PEM certificate (then any intermediates).")]
    = None,
    key: Annotated[Path | None, typer.Option(
        "--key", metavar="FILE", help="PEM private key of the certificate.")] = None,
    pkcs12: Annotated[Path | None, typer.Option(
        "--pkcs12", metavar="FILE", help="PKCS#12 (.pfx) file instead of PEM.")] = None,
    key_password: Annotated[bool, typer.Option(
        "--key-password", help="Prompt for the password of the PKCS#12 file or the "
        "encrypted key (or read it with --password-stdin).")] = False,
    password_stdin: PasswordStdin = False,
    algorithm: Annotated[str | None, typer.Option(
        help="PS256 (default for RSA), RS256, or ES256 (P-256 keys).")] = None,
    token_endpoint: Annotated[str | None, typer.Option(
        help="Bind to this TokenEndpoint (default: the stored profile's).")] = None,
    client_id: Annotated[str | None, typer.Option(
        help="Bind to this ClientId (default: the stored profile's).")] = None,
    host: Annotated[str | None, typer.Option(
        help="Bind to this relay Host (default: the stored profile's).")] = None,
    port: Annotated[int | None, typer.Option(
        help="Bind to this relay Port (default: the stored profile's).")] = None,
    use_ssl: Annotated[bool | None, typer.Option(
        "--use-ssl/--no-use-ssl", help="Bind to this UseSSL (default: the stored "
        "profile's).")] = None,
    client_secret_expires: Annotated[str | None, typer.Option(
        metavar="YYYY-MM-DD", help="Record when the client secret expires.")] = None,
    no_client_secret_expires: Annotated[bool, typer.Option(
        "--no-client-secret-expires", help="Forget the recorded expiry.")] = False,
    as_json: AsJson = False,
    url: Url = None,
    user: User = "admin",
    base_path: BasePath = DEFAULT_BASE_PATH,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Store a certificate credential, or record the client secret's expiry.

    The key is bound to the stored profile's TokenEndpoint, ClientId and relay (or the
    ones given) and only ever signs for them. Refused (exit 2) if the credential changed
    since it was read; recorded in the audit trail either way.

    \b
    Examples:
      smtp-profile oauth-credential set --certificate app.crt --key app.key
      smtp-profile oauth-credential set --pkcs12 app.pfx --key-password
      smtp-profile oauth-credential set --client-secret-expires 2027-06-30
    """
    if pkcs12 is not None and (certificate is not None or key is not None):
        raise fail("--pkcs12 and --certificate/--key contradict each other", code=2)
    if (certificate is None) != (key is None):
        raise fail("--certificate and --key go together", code=2)
    if client_secret_expires is not None:
        try:
            date.fromisoformat(client_secret_expires)
        except ValueError:
            raise fail("--client-secret-expires must be YYYY-MM-DD", code=2) from None
    changes: dict[str, Any] = {}
    if certificate is not None and key is not None:
        changes["Certificate"] = _read(certificate, "--certificate").decode("ascii", "replace")
        changes["PrivateKey"] = _read(key, "--key").decode("ascii", "replace")
    if pkcs12 is not None:
        changes["Pkcs12"] = base64.b64encode(_read(pkcs12, "--pkcs12")).decode()
    if key_password or password_stdin:
        changes["Pkcs12Password"] = read_password(password_stdin, confirm=False,
                                                  prompt="Key password").reveal()
    for name, value in (("Algorithm", algorithm), ("TokenEndpoint", token_endpoint),
                        ("ClientId", client_id), ("Host", host), ("Port", port),
                        ("UseSSL", use_ssl)):
        if value is not None:
            changes[name] = value
    if not changes and client_secret_expires is None and not no_client_secret_expires:
        raise fail("nothing to change: give at least one option (see --help)", code=2)

    async def change(access: _Access) -> dict[str, Any]:
        current, etag = await access.get()
        body = {name: current[name] for name in ("TokenEndpoint", "ClientId", "Host",
                                                 "Port", "UseSSL", "ClientSecretExpires")
                if current.get(name) is not None}
        if client_secret_expires is not None:
            body["ClientSecretExpires"] = client_secret_expires
        if no_client_secret_expires:
            body.pop("ClientSecretExpires", None)
        if "Certificate" in changes or "Pkcs12" in changes:
            # A new certificate is bound to the profile as stored now, unless told.
            for name in ("TokenEndpoint", "ClientId", "Host", "Port", "UseSSL"):
                body.pop(name, None)
        body.update(changes)
        return await access.put(body, etag or None)

    saved = _run(url, user, base_path, data_dir, database_url, change)
    if as_json:
        typer.echo(json.dumps(saved, indent=2))
        return
    typer.echo("saved:")
    for line in credential_lines(saved):
        typer.echo(f"  {line}")


@credential_app.command("delete")
def delete_credential(
    url: Url = None,
    user: User = "admin",
    base_path: BasePath = DEFAULT_BASE_PATH,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Remove the certificate credential and the recorded expiry (a type-3 profile then
    needs its ClientSecret again)."""
    async def remove(access: _Access) -> dict[str, Any]:
        _current, etag = await access.get()
        return await access.delete(etag or None)

    _run(url, user, base_path, data_dir, database_url, remove)
    typer.echo("removed")
