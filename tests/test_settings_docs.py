"""The settings are documented where operators look, from their one definition.

settings.py defines each setting once; `serve --help` is built from it, and the README's
table of settings is held to it here: every setting in its row, in order, with its flag,
variable and default, and no row for a setting that does not exist.
"""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from smtp_profile.cli import app
from smtp_profile.settings import Settings, env_var, flag, shown_default

ROOT = Path(__file__).resolve().parent.parent
ENVIRONMENT_ONLY = "(environment only)"


def readme_rows() -> list[tuple[str, str, str]]:
    """(option, variable, default) of each row of the README's settings table."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Configuration"):readme.index("## Several instances")]
    rows = [line.split(" | ") for line in section.splitlines()
            if line.startswith("| ") and not line.startswith("| Option ")]
    return [(option.removeprefix("| "), variable, default)
            for option, variable, default, _ in rows]


def default_cell(name: str) -> str:
    """A value in backticks; what an unset setting means (or on/off) as plain words."""
    info = Settings.model_fields[name]
    shown = shown_default(name)
    is_value = not isinstance(info.default, bool) and info.default not in (None, "", ())
    return f"`{shown}`" if is_value else shown


def test_the_readme_table_lists_every_setting_with_its_flag_variable_and_default() -> None:
    expected = [(f"`{flag(name)}`" if flag(name) else ENVIRONMENT_ONLY, f"`{env_var(name)}`",
                 default_cell(name)) for name in Settings.model_fields]
    assert readme_rows() == expected


def test_every_setting_has_a_description() -> None:
    for name, info in Settings.model_fields.items():
        assert info.description and info.description.endswith("."), name


def help_text(*command: str) -> str:
    result = CliRunner().invoke(app, [*command, "--help"], terminal_width=10_000)
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def test_serve_help_is_built_from_the_settings() -> None:
    text = help_text("serve")
    flags = {name: flag(name) for name in Settings.model_fields}
    for name, option in flags.items():
        info = Settings.model_fields[name]
        if option is None:  # the key: never a flag, never in a shell's history
            assert env_var(name) not in text, name
            continue
        assert option in text and env_var(name) in text, name
        assert str(info.description) in text, name
        assert f"default: {shown_default(name)}" in text, name
    listed = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]+)", text))
    switches = {f"--no-{option[2:]}" for name, option in flags.items()
                if option and Settings.model_fields[name].annotation is bool}
    assert listed == {*filter(None, flags.values()), "--help", *switches}


def test_the_admin_commands_describe_data_dir_and_database_as_serve_does() -> None:
    text = help_text("user", "list")
    for name in ("data_dir", "database_url"):
        assert str(Settings.model_fields[name].description) in text
        assert env_var(name) in text
