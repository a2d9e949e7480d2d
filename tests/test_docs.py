"""The documentation says what the code does: error table and configuration table."""

from __future__ import annotations

import re
from pathlib import Path

from smtp_profile.domain.errors import ErrorKind

ROOT = Path(__file__).resolve().parent.parent


def test_error_table_matches_the_code() -> None:
    text = (ROOT / "docs" / "errors.md").read_text()
    rows = re.findall(r"^\| `(0x[0-9A-F]+)` \| (\d+) \| (\w+) \|", text, re.MULTILINE)
    assert rows == [(k.code, str(k.status), k.name) for k in ErrorKind]


def test_error_codes_are_unique() -> None:
    codes = [k.code for k in ErrorKind]
    assert len(codes) == len(set(codes))


def test_every_environment_variable_of_the_cli_is_documented() -> None:
    cli = "".join(p.read_text() for p in (ROOT / "src" / "smtp_profile" / "cli").glob("*.py"))
    readme = (ROOT / "README.md").read_text()
    variables = set(re.findall(r'"(SMTP_PROFILE_[A-Z_]+)"', cli))
    assert variables, "the CLI reads no environment variables?"
    missing = sorted(v for v in variables if f"`{v}`" not in readme)
    assert missing == []
