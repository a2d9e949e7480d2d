"""The `smtp-profile` command's Typer applications; commands register on them."""

from __future__ import annotations

from typing import Annotated

import typer

from smtp_profile import __version__

app = typer.Typer(
    name="smtp-profile",
    help="Keyfactor-compatible SMTP profile service: run it, administer its data, and "
    "show, set and test the SMTP profile (locally or on a running server with --url).",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)
user_app = typer.Typer(help="Manage the local users who may call the API.",
                       no_args_is_help=True, rich_markup_mode=None)
app.add_typer(user_app, name="user")


@app.callback(invoke_without_command=True)
def _main(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")]
    = False,
) -> None:
    if version:
        typer.echo(__version__)
        raise typer.Exit()
