"""The `smtp-profile` command: run the service and administer its data directory.

Every option that touches data reads its SMTP_PROFILE_* environment variable too, so the
same data dir and database are found by `serve` and by the admin commands. Passwords are
read from a prompt or stdin, never from the command line, where they would land in shell
history and in `ps`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from smtp_profile import __version__
from smtp_profile.config import (
    DEFAULT_AUDIT_RETENTION_DAYS,
    DEFAULT_BASE_PATH,
    DEFAULT_DATA_DIR,
    Settings,
)
from smtp_profile.crypto import (
    KEY_FILE_NAME,
    NEXT_KEY_FILE_NAME,
    SecretBox,
    SecretKeyError,
    decode_key,
    encode_key,
    load_keys,
    new_key,
    write_key_file,
)
from smtp_profile.domain.permissions import parse_permissions
from smtp_profile.domain.secrets import Secret

app = typer.Typer(
    name="smtp-profile",
    help="Keyfactor-compatible SMTP profile service: run it and administer its data.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)
user_app = typer.Typer(help="Manage the local users who may call the API.",
                       no_args_is_help=True, rich_markup_mode=None)
app.add_typer(user_app, name="user")

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


def _settings(data_dir: Path, database_url: str | None) -> Settings:
    """Settings for the admin commands; the key comes only from the environment."""
    return Settings(data_dir=data_dir, database_url=database_url,
                    secret_key=os.environ.get("SMTP_PROFILE_SECRET_KEY") or None)


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _ports(text: str) -> frozenset[int]:
    try:
        ports = frozenset(int(p) for p in text.replace(",", " ").split())
    except ValueError:
        raise _fail(f"--implicit-tls-ports must be port numbers, not {text!r}") from None
    if any(not 1 <= p <= 65535 for p in ports):
        raise _fail("--implicit-tls-ports must be between 1 and 65535")
    return ports


def _read_password(from_stdin: bool, *, confirm: bool) -> Secret:
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            raise _fail("--password-stdin given but standard input is empty")
        return Secret(line.rstrip("\r\n"))
    value: str = typer.prompt("Password", hide_input=True, confirmation_prompt=confirm)
    return Secret(value)


@app.callback(invoke_without_command=True)
def _main(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")]
    = False,
) -> None:
    if version:
        typer.echo(__version__)
        raise typer.Exit()


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
    log_level: Annotated[str, typer.Option(
        envvar="SMTP_PROFILE_LOG_LEVEL", help="debug, info, warning or error.",
    )] = "info",
    audit_retention_days: Annotated[int, typer.Option(
        envvar="SMTP_PROFILE_AUDIT_RETENTION_DAYS", min=0,
        help="Days audit records are kept (pruned at start and hourly); 0 keeps them forever.",
    )] = DEFAULT_AUDIT_RETENTION_DAYS,
) -> None:
    """Start the API (and create the data dir, schema, key and admin user on first start).

    Example: smtp-profile serve --port 8080 --data-dir /var/lib/smtp-profile
    """
    import uvicorn

    from smtp_profile.api import create_app
    from smtp_profile.runtime import Runtime, prepare

    logging.basicConfig(level=log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = replace(
        _settings(data_dir, database_url), base_path=base_path, ca_bundle=ca_bundle,
        connect_timeout=connect_timeout, test_timeout=test_timeout,
        auth_domain=auth_domain, local_hostname=local_hostname,
        implicit_tls_ports=_ports(implicit_tls_ports),
        audit_retention_days=audit_retention_days,
    )
    try:
        prepare(settings)
        runtime = Runtime.open(settings)
    except SecretKeyError as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"smtp-profile {__version__}: data in {data_dir.resolve()}; API at "
               f"http://{host}:{port}{settings.normalized_base_path}/SMTP, docs at "
               f"http://{host}:{port}{settings.normalized_base_path}/Documentation")
    uvicorn.run(create_app(runtime), host=host, port=port, log_level=log_level.lower(),
                server_header=False, proxy_headers=False)


def _run_admin(settings: Settings, action: str, *args: object) -> object:
    """Open the runtime, run one Accounts method, close; errors become exit codes."""
    from smtp_profile.accounts import WeakPassword
    from smtp_profile.runtime import Runtime, prepare
    from smtp_profile.store.users import UnknownUser, UserExists

    async def run() -> object:
        runtime = Runtime.open(settings)
        try:
            return await getattr(runtime.accounts, action)(*args)
        finally:
            await runtime.close()

    try:
        prepare(settings)
        return asyncio.run(run())
    except UserExists as exc:
        raise _fail(f"user {exc} already exists") from None
    except UnknownUser as exc:
        raise _fail(f"no user {exc}") from None
    except WeakPassword as exc:
        raise _fail(str(exc)) from None
    except SecretKeyError as exc:
        raise _fail(str(exc)) from None


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="Login name (case-insensitive).")],
    permission: Annotated[list[str], typer.Option(
        "--permission", "-p",
        help="/system_settings/read/ or /system_settings/modify/; repeat for both.",
    )],
    password_stdin: PasswordStdin = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    database_url: DatabaseUrl = None,
) -> None:
    """Add a user with a password and permissions.

    Example: smtp-profile user add alice -p /system_settings/read/ -p /system_settings/modify/
    """
    if not name.strip() or ":" in name or "\\" in name or len(name) > 128:
        raise _fail("the name must be 1-128 characters without ':' or '\\'")
    try:
        permissions = parse_permissions(permission)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    password = _read_password(password_stdin, confirm=True)
    _run_admin(_settings(data_dir, database_url), "add", name, password, permissions)
    typer.echo(f"added user {name} with {', '.join(sorted(p.value for p in permissions))}")


@user_app.command("passwd")
def user_passwd(
    name: Annotated[str, typer.Argument(help="Login name.")],
    password_stdin: PasswordStdin = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    database_url: DatabaseUrl = None,
) -> None:
    """Set a user's password.

    Example: echo "$NEW_PASSWORD" | smtp-profile user passwd admin --password-stdin
    """
    password = _read_password(password_stdin, confirm=True)
    _run_admin(_settings(data_dir, database_url), "set_password", name, password)
    typer.echo(f"password of {name} changed")


@user_app.command("list")
def user_list(
    data_dir: DataDir = DEFAULT_DATA_DIR,
    database_url: DatabaseUrl = None,
) -> None:
    """List users and their permissions.

    Example: smtp-profile user list --data-dir /var/lib/smtp-profile
    """
    records = _run_admin(_settings(data_dir, database_url), "list")
    assert isinstance(records, list)
    if not records:
        typer.echo("no users")
    for record in records:
        perms = " ".join(sorted(p.value for p in record.permissions))
        typer.echo(f"{record.name:<24} {perms}")


@user_app.command("remove")
def user_remove(
    name: Annotated[str, typer.Argument(help="Login name.")],
    data_dir: DataDir = DEFAULT_DATA_DIR,
    database_url: DatabaseUrl = None,
) -> None:
    """Remove a user.

    Example: smtp-profile user remove alice
    """
    _run_admin(_settings(data_dir, database_url), "remove", name)
    typer.echo(f"removed user {name}")


@app.command("new-key")
def new_key_command() -> None:
    """Print a new random key for SMTP_PROFILE_SECRET_KEY (base64, 32 bytes).

    Example: smtp-profile new-key > /etc/smtp-profile/key && chmod 600 /etc/smtp-profile/key
    """
    typer.echo(encode_key(new_key()))


@app.command("rotate-key")
def rotate_key(
    new_key_stdin: Annotated[bool, typer.Option(
        "--new-key-stdin",
        help="With SMTP_PROFILE_SECRET_KEY: read the new key (base64) from standard input.",
    )] = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    database_url: DatabaseUrl = None,
) -> None:
    """Re-encrypt every stored secret under a new key.

    With the key file (the default) a new key file replaces the old one. With
    SMTP_PROFILE_SECRET_KEY, pass the new key on stdin and then set the variable to it.

    Example: smtp-profile rotate-key --data-dir /var/lib/smtp-profile
    """
    from smtp_profile.runtime import prepare
    from smtp_profile.store.database import create_engine_for
    from smtp_profile.store.profiles import ProfileRepository

    settings = _settings(data_dir, database_url)
    try:
        prepare(settings)
        ring = load_keys(data_dir, settings.secret_key, create=False)
        next_path = data_dir / NEXT_KEY_FILE_NAME
        if settings.secret_key:
            if not new_key_stdin:
                raise _fail("SMTP_PROFILE_SECRET_KEY is set: pass the new key with "
                            "--new-key-stdin (make one with `smtp-profile new-key`)")
            fresh = decode_key(sys.stdin.readline(), source="the new key on stdin")
        elif len(ring) > 1:
            fresh = ring[1]  # finish a rotation that was interrupted
        else:
            fresh = new_key()
            write_key_file(next_path, fresh)
    except SecretKeyError as exc:
        raise _fail(str(exc)) from None

    async def reseal() -> int:
        engine = create_engine_for(settings.resolved_database_url)
        try:
            repository = ProfileRepository(engine, SecretBox(ring))
            async with engine.begin() as connection:
                return await repository.reseal(connection, SecretBox([fresh]))
        finally:
            await engine.dispose()

    try:
        count = asyncio.run(reseal())
    except SecretKeyError as exc:
        raise _fail(str(exc)) from None
    if settings.secret_key:
        typer.echo(f"re-encrypted {count} secret(s); now set SMTP_PROFILE_SECRET_KEY to the "
                   "new key and restart the service")
        return
    os.replace(next_path, data_dir / KEY_FILE_NAME)
    typer.echo(f"re-encrypted {count} secret(s) under a new key in {data_dir / KEY_FILE_NAME}; "
               "restart running instances")


@app.command("audit")
def audit_command(
    since: Annotated[str | None, typer.Option(
        "--since", help="Only records at or after this time: ISO 8601 (UTC unless an offset "
        "is given) or an age such as 30m, 24h, 7d.",
    )] = None,
    until: Annotated[str | None, typer.Option(
        "--until", help="Only records before this time (same forms as --since).",
    )] = None,
    action: Annotated[list[str] | None, typer.Option(
        "--action", "-a", help="Only this action (Put, Test, FailedAuthentication); repeatable.",
    )] = None,
    limit: Annotated[int, typer.Option(
        "--limit", min=1, max=100_000, help="At most this many records, newest first.",
    )] = 100,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print the records as JSON, in the shape GET /SMTP/Audit returns.",
    )] = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    database_url: DatabaseUrl = None,
) -> None:
    """Print the audit trail (PUTs, Tests, failed sign-ins), newest first.

    Example: smtp-profile audit --since 7d --action Put --data-dir /var/lib/smtp-profile
    """
    from smtp_profile.audit_report import render_json, render_table
    from smtp_profile.domain.audit import (
        AuditQuery,
        AuditRecord,
        parse_time,
        validated_actions,
    )
    from smtp_profile.runtime import ensure_data_dir
    from smtp_profile.store.audit import AuditRepository
    from smtp_profile.store.database import create_engine_for, migrate

    settings = _settings(data_dir, database_url)
    now = datetime.now(UTC)
    try:
        query = AuditQuery(
            actions=validated_actions(action or []),
            since=None if since is None else parse_time(since, now=now, name="--since"),
            until=None if until is None else parse_time(until, now=now, name="--until"),
            limit=limit,
        )
    except ValueError as exc:
        raise _fail(str(exc)) from None

    async def read() -> list[AuditRecord]:
        engine = create_engine_for(settings.resolved_database_url)
        try:
            return (await AuditRepository(engine).list(query)).records
        finally:
            await engine.dispose()

    if settings.database_url is None:
        ensure_data_dir(settings.data_dir)
    migrate(settings.resolved_database_url)
    records = asyncio.run(read())
    if as_json:
        typer.echo(render_json(records))
    elif not records:
        typer.echo("no audit records")
    else:
        typer.echo(render_table(records))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
