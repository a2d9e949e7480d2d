"""The documentation says what the code does: error table and configuration table."""

from __future__ import annotations

import re
from pathlib import Path

from smtp_profile.domain.audit import AuditAction
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


def test_every_audit_action_is_documented() -> None:
    """The README's audit section and the audit route's own description name them all."""
    from smtp_profile.server.api.audit_routes import _QUERY_PARAMETERS

    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Audit trail"):readme.index("## Behind a reverse proxy")]
    (action_parameter,) = [p for p in _QUERY_PARAMETERS if p["name"] == "action"]
    for action in AuditAction:
        assert f"`{action.value}`" in section, action
        assert action.value in str(action_parameter["description"]), action


def test_security_claims_name_tests_that_exist() -> None:
    """Each test a claim in docs/security.md names is there (a path, or path::name)."""
    text = (ROOT / "docs" / "security.md").read_text()
    named = re.findall(r"`(tests/[\w/.]+?)(?:::(\w+))?`", text)
    assert named
    for path, name in named:
        assert (ROOT / path).exists(), path
        if name:
            assert f"def {name}(" in (ROOT / path).read_text(), (path, name)


def test_the_readme_describes_forwarded_addresses_as_the_code_does() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "forwarded headers are not trusted" not in readme
    assert "must set, not append" not in readme
    assert "right-most `X-Forwarded-For`" in readme
