"""`smtp-profile pam ...`: the PAM providers, locally or on a running server with --url.

They speak the JSON of /PamProviders, like the API. A provider's secret settings (a
token, keys) never go on the command line, where `ps` and shell histories would show
them: `--secret NAME` reads the value from standard input (one line per --secret, in
the order given) or, on a terminal, from a hidden prompt.
"""

from __future__ import annotations

import getpass
import json
import sys
from typing import Annotated, Any

import typer

from smtp_profile.cli.app import app
from smtp_profile.cli.client import ProfileClient
from smtp_profile.cli.options import DatabaseUrl, DataDir, fail
from smtp_profile.cli.profile import AsJson, BasePath, Url, User, _client, _run
from smtp_profile.settings import DEFAULT_BASE_PATH

pam_app = typer.Typer(
    help="PAM providers (vaults) the profile's credentials may come from: list, show, "
    "add, set, remove, and the provider types; locally or on a running server with --url.",
    no_args_is_help=True, rich_markup_mode=None)
app.add_typer(pam_app, name="pam")

Param = Annotated[list[str] | None, typer.Option(
    "--param", metavar="NAME=VALUE",
    help="A plain provider-level setting (repeatable); see `smtp-profile pam types`.")]
SecretName = Annotated[list[str] | None, typer.Option(
    "--secret", metavar="NAME",
    help="A secret provider-level setting (repeatable): its value is read from standard "
    "input, one line each, or a hidden prompt.")]


def provider_lines(provider: dict[str, Any]) -> list[str]:
    """A provider as a person reads it; secret settings only as set."""
    lines = [f"{provider['Id']}: {provider['Name']} ({provider['ProviderType']['Name']})"]
    for value in provider["ProviderTypeParamValues"]:
        param = value["ProviderTypeParam"]
        shown = "(secret, set)" if param["DataType"] == 2 else value["Value"]
        lines.append(f"  {param['Name']}: {shown}")
    return lines


def type_lines(provider_type: dict[str, Any]) -> list[str]:
    lines = [f"{provider_type['Name']} ({provider_type['Id']})"]
    for param in provider_type["Parameters"]:
        where = "reference" if param["InstanceLevel"] else "provider"
        kind = "secret" if param["DataType"] == 2 else "text"
        lines.append(f"  {param['Name']}: {param['DisplayName']} [{where}, {kind}]")
    return lines


def _values(params: list[str] | None, secrets: list[str] | None) -> list[dict[str, Any]]:
    values: list[dict[str, Any]] = []
    for item in params or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise fail(f"--param {item!r}: write NAME=VALUE", code=2)
        values.append({"ProviderTypeParam": {"Name": name}, "Value": value})
    for name in secrets or []:
        if sys.stdin.isatty():
            value = getpass.getpass(f"{name}: ")
        else:
            line = sys.stdin.readline()
            if not line:
                raise fail(f"--secret {name}: standard input has no line for it", code=2)
            value = line.rstrip("\r\n")
        values.append({"ProviderTypeParam": {"Name": name}, "Value": value})
    return values


def _echo(result: Any, as_json: bool, lines: Any) -> None:
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    for line in lines:
        typer.echo(line)


@pam_app.command("types")
def types_command(as_json: AsJson = False, url: Url = None, user: User = "admin",
                  base_path: BasePath = DEFAULT_BASE_PATH, data_dir: DataDir = None,
                  database_url: DatabaseUrl = None) -> None:
    """List the provider types and their parameters ([provider]: the provider's own
    settings; [reference]: given in each reference's Parameters)."""
    async def fetch(client: ProfileClient) -> Any:
        return await client.pam("GET", "/Types")

    types = _run(_client(url, user, base_path, data_dir, database_url), fetch)
    _echo(types, as_json, [line for t in types for line in type_lines(t)]
          or ["no PAM provider types"])


@pam_app.command("list")
def list_command(as_json: AsJson = False, url: Url = None, user: User = "admin",
                 base_path: BasePath = DEFAULT_BASE_PATH, data_dir: DataDir = None,
                 database_url: DatabaseUrl = None) -> None:
    """List the configured PAM providers."""
    async def fetch(client: ProfileClient) -> Any:
        return await client.pam("GET")

    providers = _run(_client(url, user, base_path, data_dir, database_url), fetch)
    _echo(providers, as_json, [line for p in providers for line in provider_lines(p)]
          or ["no PAM providers"])


@pam_app.command("show")
def show_command(provider_id: Annotated[int, typer.Argument(metavar="ID")],
                 as_json: AsJson = False, url: Url = None, user: User = "admin",
                 base_path: BasePath = DEFAULT_BASE_PATH, data_dir: DataDir = None,
                 database_url: DatabaseUrl = None) -> None:
    """Show one PAM provider (secret settings only as set)."""
    async def fetch(client: ProfileClient) -> Any:
        return await client.pam("GET", f"/{provider_id}")

    provider = _run(_client(url, user, base_path, data_dir, database_url), fetch)
    _echo(provider, as_json, provider_lines(provider))


@pam_app.command("add")
def add_command(name: Annotated[str, typer.Argument(metavar="NAME")],
                provider_type: Annotated[str, typer.Option(
                    "--type", help="The provider type's name (see `pam types`).")],
                param: Param = None, secret: SecretName = None,
                as_json: AsJson = False, url: Url = None, user: User = "admin",
                base_path: BasePath = DEFAULT_BASE_PATH, data_dir: DataDir = None,
                database_url: DatabaseUrl = None) -> None:
    """Add a PAM provider; its settings are checked before it is stored.

    \b
    Example:
      smtp-profile pam add vault --type Hashicorp-Vault --param Host=https://vault:8200 \\
          --secret Token < token.txt
    """
    body = {"Name": name, "ProviderType": {"Name": provider_type},
            "ProviderTypeParamValues": _values(param, secret)}

    async def add(client: ProfileClient) -> Any:
        return await client.pam("POST", "", body)

    provider = _run(_client(url, user, base_path, data_dir, database_url), add)
    _echo(provider, as_json, ["added:", *provider_lines(provider)])


@pam_app.command("set")
def set_command(provider_id: Annotated[int, typer.Argument(metavar="ID")],
                name: Annotated[str | None, typer.Option(help="A new name.")] = None,
                param: Param = None, secret: SecretName = None,
                unset: Annotated[list[str] | None, typer.Option(
                    "--unset", metavar="NAME", help="Clear a plain setting.")] = None,
                as_json: AsJson = False, url: Url = None, user: User = "admin",
                base_path: BasePath = DEFAULT_BASE_PATH, data_dir: DataDir = None,
                database_url: DatabaseUrl = None) -> None:
    """Change a provider: the settings given change, the others keep their values
    (secret ones too). Values remembered from the provider are forgotten."""
    if not (name or param or secret or unset):
        raise fail("nothing to change: give --name, --param, --secret or --unset", code=2)
    changes = _values(param, secret)

    async def change(client: ProfileClient) -> Any:
        current = await client.pam("GET", f"/{provider_id}")
        values = {v["ProviderTypeParam"]["Name"]: v["Value"]
                  for v in current["ProviderTypeParamValues"]
                  if v["Value"] is not None and v["ProviderTypeParam"]["Name"]
                  not in (unset or [])}
        values.update({c["ProviderTypeParam"]["Name"]: c["Value"] for c in changes})
        body = {"Id": provider_id, "Name": name or current["Name"],
                "ProviderTypeParamValues": [{"ProviderTypeParam": {"Name": k}, "Value": v}
                                            for k, v in values.items()]}
        return await client.pam("PUT", "", body)

    provider = _run(_client(url, user, base_path, data_dir, database_url), change)
    _echo(provider, as_json, ["saved:", *provider_lines(provider)])


@pam_app.command("remove")
def remove_command(provider_id: Annotated[int, typer.Argument(metavar="ID")],
                   url: Url = None, user: User = "admin",
                   base_path: BasePath = DEFAULT_BASE_PATH, data_dir: DataDir = None,
                   database_url: DatabaseUrl = None) -> None:
    """Remove a provider; refused (exit 2) while the profile refers to it."""
    async def remove(client: ProfileClient) -> Any:
        return await client.pam("DELETE", f"/{provider_id}")

    _run(_client(url, user, base_path, data_dir, database_url), remove)
    typer.echo(f"removed PAM provider {provider_id}")
