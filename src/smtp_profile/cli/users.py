"""`smtp-profile user ...`: the local users who may call the API."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated

import typer

from smtp_profile.cli.app import user_app
from smtp_profile.cli.options import (
    DatabaseUrl,
    DataDir,
    PasswordStdin,
    fail,
    read_password,
    settings_for,
)
from smtp_profile.domain.permissions import parse_permissions
from smtp_profile.settings import Settings
from smtp_profile.store.secret_box import SecretKeyError

if TYPE_CHECKING:
    from smtp_profile.runtime import Runtime


def _run_admin(settings: Settings, action: str, *args: object) -> object:
    """Open the runtime, run one Accounts method, close; errors become exit codes."""
    return _run_on(settings, lambda runtime: getattr(runtime.accounts, action)(*args))


def _run_on(settings: Settings,
            call: Callable[[Runtime], Awaitable[object]]) -> object:
    """Open the runtime, await `call(runtime)`, close; errors become exit codes."""
    from smtp_profile.runtime import Runtime, prepare
    from smtp_profile.usecases.accounts import WeakPassword
    from smtp_profile.usecases.ports import UnknownUser, UserExists

    async def run() -> object:
        runtime = Runtime.open(settings)
        try:
            return await call(runtime)
        finally:
            await runtime.close()

    try:
        prepare(settings)
        return asyncio.run(run())
    except UserExists as exc:
        raise fail(f"user {exc} already exists") from None
    except UnknownUser as exc:
        raise fail(f"no user {exc}") from None
    except WeakPassword as exc:
        raise fail(str(exc)) from None
    except SecretKeyError as exc:
        raise fail(str(exc)) from None


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="Login name (case-insensitive).")],
    permission: Annotated[list[str], typer.Option(
        "--permission", "-p",
        help="/system_settings/read/ or /system_settings/modify/; repeat for both.",
    )],
    password_stdin: PasswordStdin = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Add a user with a password and permissions.

    Example: smtp-profile user add alice -p /system_settings/read/ -p /system_settings/modify/
    """
    # '\\' and '@' would be read as DOMAIN\\user and user@domain at sign-in, ':' ends a
    # Basic user name: a name holding one could never sign in.
    if not name.strip() or any(mark in name for mark in ":\\@") or len(name) > 128:
        raise fail("the name must be 1-128 characters without ':', '\\' or '@' "
                   "(sign-in reads DOMAIN\\user and user@domain)")
    try:
        permissions = parse_permissions(permission)
    except ValueError as exc:
        raise fail(str(exc)) from None
    password = read_password(password_stdin, confirm=True)
    _run_admin(settings_for(data_dir, database_url), "add", name, password, permissions)
    typer.echo(f"added user {name} with {', '.join(sorted(p.value for p in permissions))}")


@user_app.command("passwd")
def user_passwd(
    name: Annotated[str, typer.Argument(help="Login name.")],
    password_stdin: PasswordStdin = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Set a user's password.

    Example: echo "$NEW_PASSWORD" | smtp-profile user passwd admin --password-stdin
    """
    password = read_password(password_stdin, confirm=True)
    _run_admin(settings_for(data_dir, database_url), "set_password", name, password)
    typer.echo(f"password of {name} changed")


@user_app.command("list")
def user_list(
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """List users and their permissions.

    Example: smtp-profile user list --data-dir /var/lib/smtp-profile
    """
    records = _run_admin(settings_for(data_dir, database_url), "list")
    assert isinstance(records, list)
    if not records:
        typer.echo("no users")
    for record in records:
        perms = " ".join(sorted(p.value for p in record.permissions))
        typer.echo(f"{record.name:<24} {perms}")


@user_app.command("remove")
def user_remove(
    name: Annotated[str, typer.Argument(help="Login name.")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Remove a user.

    Example: smtp-profile user remove alice
    """
    _run_admin(settings_for(data_dir, database_url), "remove", name)
    typer.echo(f"removed user {name}")


@user_app.command("unlock")
def user_unlock(
    name: Annotated[str, typer.Argument(help="Login name.")],
    address: Annotated[str | None, typer.Option(
        "--address", help="Only the limits on this client address (the user's from it, "
        "and the address's own count); without it, the user's from every address.",
    )] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Lift the sign-in limits on a user after failed sign-ins (429 0xA0110017).

    The user's next sign-in is checked at once, from any address; every instance
    sharing the database sees it at the next request.

    Example: smtp-profile user unlock admin --address 10.0.0.5
    """
    lifted = _run_on(settings_for(data_dir, database_url),
                     lambda runtime: runtime.sign_in.unlock(name, address))
    where = "" if address is None else f" from {address}"
    typer.echo(f"lifted the sign-in limits on {name}{where} ({lifted} counter(s) cleared)")
