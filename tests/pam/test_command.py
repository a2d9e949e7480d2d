"""The External-Command provider with real executables: printf, a shell script that
misbehaves on request, and Debian's `pass` with a store encrypted for a throwaway GPG key."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from smtp_profile.domain.errors import ValidationFailed
from smtp_profile.domain.secret_reference import SecretFailure
from smtp_profile.pam.command import NAME, CommandProviderType
from smtp_profile.pam.registry import provider_type
from tests.pam.checks import assert_failure, failure_of, run_clean

CANARY = "canary-cmd-7f3a9c"
TYPE = CommandProviderType()

SCRIPT = """#!/bin/sh
mode=$(cat {control}/mode)
case "$mode" in
  ok) printf '%s\\n' "$1"; printf 'second line is dropped\\n'; echo "noise" >&2 ;;
  fail) echo "stderr says {canary}-stderr" >&2; exit 3 ;;
  hang) sleep 300 & echo "$$ $!" > {control}/pid; sleep 300 ;;
  empty) printf '\\nonly later lines\\n' ;;
  big) head -c 100000 /dev/zero | tr '\\0' x ;;
  killed) kill -9 $$ ;;
  binary) printf '\\377\\376\\n' ;;
  env) env | cut -d= -f1 | sort | tr '\\n' ' '; echo ;;
  secretenv) printf '%s\\n' "$OP_SERVICE_ACCOUNT_TOKEN" ;;
esac
"""


@pytest.fixture
def script(tmp_path: Path) -> Path:
    control = tmp_path / "control"
    control.mkdir()
    path = tmp_path / "provider.sh"
    path.write_text(SCRIPT.format(control=control, canary=CANARY))
    path.chmod(0o755)
    return path


def set_mode(script: Path, mode: str) -> None:
    (script.parent / "control" / "mode").write_text(mode)


def settings(executable: str | Path, arguments: list[str] | None = None,
             **extra: str) -> dict[str, str]:
    values = {"Executable": str(executable), **extra}
    if arguments is not None:
        values["Arguments"] = json.dumps(arguments)
    return values


def alive(pid: int) -> bool:
    """Whether the process runs (a zombie, killed and not yet reaped, does not count)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def assert_all_stopped(pids: list[int]) -> None:
    """The command and its background child are gone (SIGKILLed processes vanish once
    reaped; a short bounded wait covers the reaping, not the killing)."""
    for _ in range(50):
        if not any(alive(pid) for pid in pids):
            return
        subprocess.run(["true"], check=True)
    assert not [pid for pid in pids if alive(pid)], "the command or its child survived"


def test_the_type_is_registered_under_its_wire_name() -> None:
    assert provider_type(NAME).name == "External-Command"


@pytest.mark.parametrize(("values", "words"), [
    ({"Executable": "provider.sh"}, "absolute path"),
    ({"Executable": "/nonexistent/provider"}, "does not exist"),
    ({"Executable": "/etc/passwd"}, "not an executable file"),
    ({"Executable": "/usr/bin/printf", "Arguments": "show {Secret}"}, "JSON array"),
    ({"Executable": "/usr/bin/printf", "Arguments": "[1, 2]"}, "JSON array"),
    ({"Executable": "/usr/bin/printf", "Arguments": '["op://{Secret}"]'}, "whole argument"),
    ({"Executable": "/usr/bin/printf", "Arguments": '["{Password}"]'}, "{Secret}"),
    ({"Executable": "/usr/bin/printf", "Environment": '{"A B": "x"}'}, "variable name"),
    ({"Executable": "/usr/bin/printf", "Environment": '["x"]'}, "JSON object"),
    ({"Executable": "/usr/bin/printf", "Shell": "/bin/sh"}, "not a setting"),
    ({"Executable": "/usr/bin/printf", "Secret": "x"}, "parameter of each reference"),
    ({}, "Executable (Executable (absolute path)) is required"),
])
def test_settings_that_cannot_work_are_refused_with_the_field_named(
        values: dict[str, str], words: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        TYPE.validate(values)
    assert words in caught.value.message


def test_a_placeholder_becomes_one_whole_argument_never_shell_syntax() -> None:
    source = TYPE.open(settings("/usr/bin/printf", ["%s\\n", "{Secret}"]), timeout=10)
    tricky = f"{CANARY} $(touch /tmp/pwned) `id`; | * 'q' \"dq\""

    async def body() -> str:
        try:
            return await source.fetch({"Secret": tricky})
        finally:
            await source.aclose()

    assert run_clean(body) == tricky


def test_each_failure_is_explained_then_the_same_source_works(
        script: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    source = TYPE.open(settings(script, ["{Secret}"]), timeout=1.0)
    value = f"{CANARY}-value"
    expected = [
        ("fail", SecretFailure.COMMAND_FAILED, "exited with status 3; its standard error"),
        ("hang", SecretFailure.TIMED_OUT, "did not finish within 1 seconds"),
        ("empty", SecretFailure.EMPTY, "nothing on its first line"),
        ("big", SecretFailure.COMMAND_FAILED, "more than 65536 bytes"),
        ("killed", SecretFailure.COMMAND_FAILED, "killed by signal 9"),
        ("binary", SecretFailure.COMMAND_FAILED, "not UTF-8"),
    ]

    async def body() -> None:
        try:
            for mode, failure, words in expected:
                set_mode(script, mode)
                problem = await failure_of(source.fetch({"Secret": value}))
                assert_failure(problem, failure, words)
                assert CANARY not in problem.detail
                set_mode(script, "ok")
                assert await source.fetch({"Secret": value}) == value
        finally:
            await source.aclose()

    run_clean(body)
    assert_all_stopped([int(p) for p in (script.parent / "control" / "pid").read_text().split()])
    assert CANARY not in caplog.text


def test_bad_reference_parameters_are_misconfigured_then_a_good_one_works() -> None:
    source = TYPE.open(settings("/usr/bin/printf", ["%s\\n", "{Key}", "{Secret}"]), timeout=10)

    async def body() -> None:
        try:
            cases = [({"Secret": "a"}, "has no Key"),
                     ({"Secret": "a", "Key": "--version"}, "starts with '-'"),
                     ({"Secret": "a", "Key": "k", "Path": "x"}, "not a parameter"),
                     ({"Secret": "a\nb", "Key": "k"}, "control characters")]
            for parameters, words in cases:
                problem = await failure_of(source.fetch(parameters))
                assert_failure(problem, SecretFailure.MISCONFIGURED, words)
                assert await source.fetch({"Secret": "a", "Key": "k"}) == "k"
        finally:
            await source.aclose()

    run_clean(body)


def test_an_executable_that_vanished_is_reported_then_works_again(tmp_path: Path) -> None:
    executable = tmp_path / "tool"
    shutil.copy("/usr/bin/printf", executable)
    source = TYPE.open(settings(executable, ["value\\n"]), timeout=10)

    async def body() -> None:
        try:
            executable.rename(tmp_path / "gone")
            problem = await failure_of(source.fetch({}))
            assert_failure(problem, SecretFailure.COMMAND_FAILED, "could not be started")
            (tmp_path / "gone").rename(executable)
            assert await source.fetch({}) == "value"
        finally:
            await source.aclose()

    run_clean(body)


def test_the_environment_is_minimal_plus_what_the_operator_sets(
        script: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP_PROFILE_SECRET_KEY", CANARY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", CANARY)
    source = TYPE.open(settings(script, ["{Secret}"],
                                Environment='{"PASSWORD_STORE_DIR": "/srv/pass"}',
                                SecretEnvironment=json.dumps(
                                    {"OP_SERVICE_ACCOUNT_TOKEN": f"{CANARY}-op"})),
                       timeout=10)
    assert CANARY not in repr(source)

    async def body() -> tuple[str, str]:
        try:
            set_mode(script, "env")
            names = await source.fetch({"Secret": "x"})
            set_mode(script, "secretenv")
            return names, await source.fetch({"Secret": "x"})
        finally:
            await source.aclose()

    names, token = run_clean(body)
    expected = {"HOME", "LC_ALL", "OP_SERVICE_ACCOUNT_TOKEN", "PASSWORD_STORE_DIR", "PATH"}
    # sh adds PWD (and may add SHLVL) itself; nothing else comes from the service.
    assert set(names.split()) - {"PWD", "SHLVL", "_"} == expected
    assert token == f"{CANARY}-op"


def test_a_fetch_cancelled_from_outside_leaves_no_process(script: Path) -> None:
    source = TYPE.open(settings(script, ["{Secret}"]), timeout=60)
    pid_file = script.parent / "control" / "pid"

    os.mkfifo(pid_file)  # the script's write of its pid waits for this test to read

    async def body() -> list[int]:
        set_mode(script, "hang")
        task = asyncio.create_task(source.fetch({"Secret": "x"}))
        pids = [int(p) for p in (await asyncio.to_thread(pid_file.read_text)).split()]
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await source.aclose()
        return pids

    assert_all_stopped(run_clean(body))


# --- pass, with a store encrypted for a throwaway GPG key -------------------------------

@pytest.fixture(scope="module")
def password_store() -> Iterator[dict[str, str]]:
    """A GnuPG home with a new key (no passphrase) and a pass store encrypted for it; the
    agent it starts is stopped afterwards."""
    missing = [tool for tool in ("pass", "gpg", "gpgconf") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (scripts/ensure-pass installs "
                    "them as root: apt-get install -y pass gnupg)")
    home = Path(tempfile.mkdtemp(prefix="pam-gpg-"))  # short: the agent's socket path
    env = {"GNUPGHOME": str(home / "gnupg"), "PASSWORD_STORE_DIR": str(home / "store"),
           "PATH": "/usr/bin:/bin", "HOME": str(home)}
    os.mkdir(env["GNUPGHOME"], 0o700)
    try:
        subprocess.run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key",
                        "smtp-profile test <pam@test.invalid>", "future-default", "default",
                        "never"], env=env, check=True, capture_output=True, timeout=60)
        subprocess.run(["pass", "init", "pam@test.invalid"], env=env, check=True,
                       capture_output=True, timeout=60)
        yield env
    finally:
        subprocess.run(["gpgconf", "--kill", "all"], env=env, check=False,
                       capture_output=True, timeout=60)
        shutil.rmtree(home, ignore_errors=True)


def pass_insert(env: dict[str, str], name: str, content: str) -> None:
    subprocess.run(["pass", "insert", "--multiline", "--force", name], input=content,
                   text=True, env=env, check=True, capture_output=True, timeout=60)


def test_pass_show_gives_the_first_line_and_a_rotation_is_seen(
        password_store: dict[str, str], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    env = password_store
    pass_insert(env, "relay/smtp", f"{CANARY}-1\nlogin: relay@example.com\nurl: smtp\n")
    source = TYPE.open(settings(
        "/usr/bin/pass", ["show", "{Secret}"],
        Environment=json.dumps({k: env[k] for k in ("GNUPGHOME", "PASSWORD_STORE_DIR",
                                                    "HOME")})), timeout=30)

    async def body() -> None:
        try:
            assert await source.fetch({"Secret": "relay/smtp"}) == f"{CANARY}-1"
            problem = await failure_of(source.fetch({"Secret": "relay/nothing"}))
            assert_failure(problem, SecretFailure.COMMAND_FAILED, "pass exited with status 1")
            assert "not in the password store" not in problem.detail  # stderr stays out
            pass_insert(env, "relay/smtp", f"{CANARY}-2\n")
            assert await source.fetch({"Secret": "relay/smtp"}) == f"{CANARY}-2"
        finally:
            await source.aclose()

    run_clean(body)
    assert CANARY not in caplog.text
