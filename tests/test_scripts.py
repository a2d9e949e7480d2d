"""The README's test command and CI's entry point, run in a copy of the repository whose
`scripts/test` is a stub (the real one installs packages and runs this whole suite) and
whose `apt-get` is a recorder: nothing is installed, nothing leaves this machine."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CLOSED_POSTGRES = "postgresql://postgres@127.0.0.1:1/test"


def fake_tool(directory: Path, name: str, log: Path) -> None:
    tool = directory / name
    tool.write_text(f'#!/bin/sh\necho "{name} $*" >> {log}\n')
    tool.chmod(0o755)


def repository_copy(tmp_path: Path) -> Path:
    """.ci/run and scripts/ensure-chromium as they are; scripts/test a stub."""
    root = tmp_path / "repo"
    (root / ".ci").mkdir(parents=True)
    (root / "scripts").mkdir()
    shutil.copy(ROOT / ".ci" / "run", root / ".ci" / "run")
    shutil.copy(ROOT / "scripts" / "ensure-chromium", root / "scripts" / "ensure-chromium")
    (root / "scripts" / "test").write_text('#!/usr/bin/env bash\necho "STUB scripts/test '
                                           '$SMTP_PROFILE_TEST_DATABASE"\n')
    venv = ROOT / ".venv"
    (root / ".venv").symlink_to(venv.resolve() if venv.exists() else Path(sys.prefix))
    return root


def run_ci(root: Path, **env: str) -> subprocess.CompletedProcess[str]:
    values = {k: v for k, v in os.environ.items() if k not in ("CI",
                                                                "SMTP_PROFILE_REQUIRE_POSTGRES")}
    values.update({"SMTP_PROFILE_CI_POSTGRES": CLOSED_POSTGRES,
                   "SMTP_PROFILE_CHROMIUM": "/bin/true"}, **env)
    return subprocess.run(["bash", str(root / ".ci" / "run")], capture_output=True,
                          text=True, env=values, timeout=120, check=False)


def test_on_ci_an_unreachable_postgresql_fails_the_run_before_any_test(
        tmp_path: Path) -> None:
    result = run_ci(repository_copy(tmp_path), CI="true")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAILED" in result.stdout and "not reachable" in result.stdout
    assert "STUB scripts/test" not in result.stdout


def test_off_ci_an_unreachable_postgresql_skips_the_second_run_loudly(
        tmp_path: Path) -> None:
    result = run_ci(repository_copy(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("STUB scripts/test") == 1
    assert "SKIPPED" in result.stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="installing Chromium needs root")
def test_a_missing_chromium_is_installed_with_apt_and_said_so(tmp_path: Path) -> None:
    tools = tmp_path / "bin"
    tools.mkdir()
    log = tmp_path / "apt.log"
    fake_tool(tools, "apt-get", log)
    env = {**os.environ, "PATH": f"{tools}:{os.environ['PATH']}",
           "SMTP_PROFILE_CHROMIUM": str(tmp_path / "no-chromium")}
    env.pop("SMTP_PROFILE_SKIP_BROWSER", None)
    result = subprocess.run(["bash", str(ROOT / "scripts" / "ensure-chromium")],
                            capture_output=True, text=True, env=env, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert log.read_text().splitlines() == ["apt-get update", "apt-get install -y chromium"]
    assert "installing it for the browser tests" in result.stdout


def test_the_readme_test_command_ensures_chromium_before_pytest() -> None:
    script = (ROOT / "scripts" / "test").read_text()
    assert "scripts/ensure-chromium" in script
    assert script.index("scripts/ensure-chromium") < script.index("-m pytest")


@pytest.mark.skipif(os.geteuid() != 0, reason="installing pass needs root")
def test_a_missing_pass_is_installed_with_apt_and_said_so(tmp_path: Path) -> None:
    tools = tmp_path / "bin"
    tools.mkdir()
    log = tmp_path / "apt.log"
    fake_tool(tools, "apt-get", log)
    (tools / "id").symlink_to(shutil.which("id") or "/usr/bin/id")
    env = {**os.environ, "PATH": str(tools)}  # no pass, no gpg on this PATH
    result = subprocess.run([shutil.which("bash") or "/bin/bash",
                             str(ROOT / "scripts" / "ensure-pass")],
                            capture_output=True, text=True, env=env, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert log.read_text().splitlines() == ["apt-get update",
                                            "apt-get install -y pass gnupg"]
    assert "pass gnupg missing: installing" in result.stdout


def test_the_readme_test_command_ensures_pass_before_pytest() -> None:
    script = (ROOT / "scripts" / "test").read_text()
    assert "scripts/ensure-pass" in script
    assert script.index("scripts/ensure-pass") < script.index("-m pytest")
