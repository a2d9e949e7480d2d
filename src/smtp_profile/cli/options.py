"""Options and helpers shared by the commands.

The settings (settings.py) are the one source of `serve`'s options and of what every
command reads from SMTP_PROFILE_* variables, so `serve` and the admin commands find the
same data dir, database, key and relay settings. Passwords are read from a prompt or
stdin, never from the command line, where they would land in shell history and in `ps`.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Mapping
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

import typer
from pydantic import ValidationError
from pydantic.types import PathType
from pydantic_core import ErrorDetails
from typer.models import OptionInfo

from smtp_profile.domain.secrets import Secret
from smtp_profile.settings import Settings, bounds, env_var, flag, shown_default

Given = Mapping[str, object]
"""Settings given on the command line, by field name; None: not given."""


def _flag_type(annotation: object) -> tuple[type, bool]:
    """The type click converts a flag to, and whether it names a file."""
    members = [a for a in get_args(annotation) if a is not type(None)] \
        if get_origin(annotation) in (Union, UnionType) else [annotation]
    (member,) = members
    is_file = False
    if get_origin(member) is Annotated:
        member, *metadata = get_args(member)
        is_file = any(isinstance(m, PathType) and m.path_type == "file" for m in metadata)
    if member in (int, float, bool, Path):
        return member, is_file
    return str, False


def setting_option(name: str) -> OptionInfo:
    """The option of setting `name`: None when not given (so the variable or the default
    applies), the field's description with its variable, default and range as help."""
    info = Settings.model_fields[name]
    option = flag(name)
    if option is None:
        raise ValueError(f"{name} is read from the environment only")
    notes = [f"env var: {env_var(name)}", f"default: {shown_default(name)}"]
    notes += [rule] if (rule := bounds(name)) else []
    kind, is_file = _flag_type(info.annotation)
    if kind is bool:  # --allow-link-local/--no-allow-link-local
        option = f"{option}/--no-{option.removeprefix('--')}"
    described: OptionInfo = typer.Option(
        option, help=f"{info.description}  [{'; '.join(notes)}]", show_default=False,
        dir_okay=not is_file)
    return described


DataDir = Annotated[Path | None, setting_option("data_dir")]
DatabaseUrl = Annotated[str | None, setting_option("database_url")]
PasswordStdin = Annotated[bool, typer.Option(
    "--password-stdin", help="Read the password from the first line of standard input.",
)]


def settings_options() -> list[inspect.Parameter]:
    """One keyword parameter per setting that has a flag, for `serve`'s signature: the
    type click converts the flag to (int, float, bool, Path or text; Settings checks the
    rest), None by default."""
    return [inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=None,
        annotation=Annotated[_flag_type(info.annotation)[0] | None,
                             setting_option(name)])
        for name, info in Settings.model_fields.items() if flag(name) is not None]


def read_settings(given: Given) -> Settings:
    """Settings from the flags given, the environment and the defaults; a bad value stops
    the command with a message that names the flag or variable it came from."""
    values: dict[str, Any] = {name: value for name, value in given.items()
                              if value is not None}
    try:
        return Settings(**values)
    except ValidationError as exc:
        problems = [_problem(error, values) for error in exc.errors()]
        raise fail("; ".join(problems)) from None


def _problem(error: ErrorDetails, given: Given) -> str:
    cause = error.get("ctx", {}).get("error")
    given_value = error["input"]
    shown = str(given_value) if isinstance(given_value, Path) else given_value
    reason = str(cause) if error["type"] == "value_error" and cause else \
        f"{error['msg']}, not {shown!r}"
    if not error["loc"]:
        return reason
    name = str(error["loc"][0])
    source = flag(name) if name in given else None
    return f"{source or env_var(name)}: {reason}"


def settings_for(data_dir: Path | None, database_url: str | None) -> Settings:
    """Settings for commands other than `serve`: their data dir and database options (None:
    not given), and the environment, so a local `test` behaves like the server. The key
    comes only from the environment."""
    return read_settings({"data_dir": data_dir, "database_url": database_url})


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def read_password(from_stdin: bool, *, confirm: bool, prompt: str = "Password") -> Secret:
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            raise fail("--password-stdin given but standard input is empty")
        return Secret(line.rstrip("\r\n"))
    value: str = typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm)
    return Secret(value)
