"""An external command as a PAM provider: `pass show`, `op read`, a site's own script.

The operator configures an executable (an absolute path) and its arguments as a JSON array
of strings; the service runs it directly, never through a shell, so nothing in a setting or
a reference is ever parsed as shell syntax. An argument that is exactly `{Secret}` or
`{Key}` is replaced by that parameter of the reference, as one whole argument (a value
with spaces stays one argument; a value starting with `-` is refused, so a reference
cannot slip an option in).

The value is the first line of standard output (without its line break): `pass` prints the
password on its first line and notes below it, and a relay password never holds a line
break; the rest of the output is read and dropped. Standard error is never logged, stored
or shown (a tool may print the secret, or a passphrase prompt, there): only its length and
the exit status are reported. The command runs in a session of its own, in `/`, with
standard input closed and a minimal environment (PATH, HOME, LC_ALL plus what the operator
sets), and the whole process group is killed when the time limit passes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field

from smtp_profile.domain.json_text import parse_json
from smtp_profile.domain.secret_reference import (
    ParameterSpec,
    SecretFailure,
    SecretUnavailable,
)
from smtp_profile.pam.parameters import check_settings, present, reference_values

log = logging.getLogger(__name__)

NAME = "External-Command"

PARAMETERS = (
    ParameterSpec("Executable", "Executable (absolute path)"),
    ParameterSpec("Arguments", "Arguments (JSON array of strings; {Secret} and {Key} "
                  "are replaced by the reference's parameters)", required=False),
    ParameterSpec("Environment", "Environment variables (JSON object)", required=False),
    ParameterSpec("SecretEnvironment", "Secret environment variables (JSON object, "
                  "write-only)", secret=True, required=False),
    ParameterSpec("Secret", "Secret name", required=False, instance_level=True),
    ParameterSpec("Key", "Key or field", required=False, instance_level=True),
)

PLACEHOLDERS = frozenset(spec.name for spec in PARAMETERS if spec.instance_level)
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
REAP_GRACE = 5.0
"""Seconds to wait for a killed command to end."""
MAX_OUTPUT = 64 * 1024
"""More standard output than this is refused: no secret is that long."""

_PLACEHOLDER = re.compile(r"\{([A-Za-z][A-Za-z0-9_]*)\}")
_WHOLE_PLACEHOLDER = re.compile(r"\A\{([A-Za-z][A-Za-z0-9_]*)\}\Z")
_ENV_NAME = re.compile(r"\A[A-Za-z_][A-Za-z0-9_]*\Z")


def _json_arguments(text: str | None) -> tuple[list[str] | None, list[str]]:
    if text is None:
        return [], []
    try:
        value = parse_json(text)
    except ValueError:
        return None, ["Arguments must be a JSON array of strings, e.g. [\"show\", \"{Secret}\"]."]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        return None, ["Arguments must be a JSON array of strings, e.g. [\"show\", \"{Secret}\"]."]
    problems = []
    for index, item in enumerate(value):
        if "\x00" in item:
            problems.append(f"Arguments[{index}] contains a NUL character.")
        whole = _WHOLE_PLACEHOLDER.match(item)
        if whole:
            if whole.group(1) not in PLACEHOLDERS:
                problems.append(
                    f"Arguments[{index}] is the placeholder {item}, but a reference has only "
                    f"{', '.join('{' + name + '}' for name in sorted(PLACEHOLDERS))}.")
        elif _PLACEHOLDER.search(item):
            problems.append(
                f"Arguments[{index}] ({item!r}) has a placeholder inside a longer argument; "
                "a placeholder must be a whole argument (put the whole value, e.g. "
                "op://vault/item/field, in the reference's parameter).")
    return value, problems


def _json_environment(name: str, text: str | None) -> tuple[dict[str, str], list[str]]:
    if text is None:
        return {}, []
    try:
        value = parse_json(text)
    except ValueError:
        value = None
    if not isinstance(value, dict) or not all(isinstance(item, str)
                                              for item in value.values()):
        return {}, [f"{name} must be a JSON object of strings, e.g. "
                    "{\"PASSWORD_STORE_DIR\": \"/srv/pass\"}."]
    problems = [f"{name}: {key!r} is not an environment variable name."
                for key in value if not _ENV_NAME.match(key)]
    problems += [f"{name}: the value of {key} contains a NUL character."
                 for key, item in value.items() if "\x00" in item]
    return value, problems


def _executable_problems(path: str | None) -> list[str]:
    if path is None:
        return []
    if not os.path.isabs(path):
        return ["Executable must be an absolute path (no PATH lookup, no shell)."]
    try:
        info = os.stat(path)
    except OSError:
        return [f"Executable {path} does not exist on this server."]
    if not stat.S_ISREG(info.st_mode) or not os.access(path, os.X_OK):
        return [f"Executable {path} is not an executable file."]
    return []


@dataclass
class CommandProviderType:
    """The `External-Command` type: see the module's docstring."""

    name: str = NAME
    parameters: tuple[ParameterSpec, ...] = PARAMETERS

    def validate(self, settings: Mapping[str, str]) -> None:
        given = present(settings)
        problems = _executable_problems(given.get("Executable"))
        problems += _json_arguments(given.get("Arguments"))[1]
        problems += _json_environment("Environment", given.get("Environment"))[1]
        problems += _json_environment("SecretEnvironment",
                                      given.get("SecretEnvironment"))[1]
        check_settings(NAME, PARAMETERS, settings, problems)

    def open(self, settings: Mapping[str, str], *, timeout: float) -> CommandSource:
        self.validate(settings)
        given = present(settings)
        arguments, _ = _json_arguments(given.get("Arguments"))
        environment = {"PATH": DEFAULT_PATH, "LC_ALL": "C.UTF-8"}
        if "HOME" in os.environ:
            environment["HOME"] = os.environ["HOME"]
        environment.update(_json_environment("Environment", given.get("Environment"))[0])
        environment.update(_json_environment("SecretEnvironment",
                                             given.get("SecretEnvironment"))[0])
        return CommandSource(given["Executable"], tuple(arguments or ()), environment,
                             timeout)


@dataclass
class CommandSource:
    """Runs the command once per fetch; holds no value between fetches."""

    executable: str
    arguments: tuple[str, ...]
    environment: dict[str, str] = field(repr=False)
    timeout: float
    _running: set[asyncio.subprocess.Process] = field(default_factory=set, repr=False)

    def argv(self, parameters: Mapping[str, str]) -> list[str]:
        """The command line for a reference: placeholders become whole arguments."""
        values = reference_values(NAME, PARAMETERS, parameters)
        argv = [self.executable]
        for argument in self.arguments:
            whole = _WHOLE_PLACEHOLDER.match(argument)
            if whole is None:
                argv.append(argument)
                continue
            name = whole.group(1)
            value = values.get(name)
            if value is None:
                raise SecretUnavailable(
                    SecretFailure.MISCONFIGURED,
                    f"The command's arguments use {{{name}}}, but the reference has no "
                    f"{name}.")
            if value.startswith("-"):
                raise SecretUnavailable(
                    SecretFailure.MISCONFIGURED,
                    f"The reference's {name} starts with '-', which the command would read "
                    "as an option.")
            argv.append(value)
        return argv

    async def fetch(self, parameters: Mapping[str, str]) -> str:
        argv = self.argv(parameters)
        label = os.path.basename(self.executable)
        try:
            process = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, env=self.environment, cwd="/",
                start_new_session=True)
        except OSError as exc:
            raise SecretUnavailable(
                SecretFailure.COMMAND_FAILED,
                f"{self.executable} could not be started ({exc.strerror or 'error'}).",
            ) from None
        self._running.add(process)
        try:
            try:
                async with asyncio.timeout(self.timeout):
                    output, error_bytes = await asyncio.gather(
                        _read_limited(process), _count(process.stderr))
                    status = await process.wait()
            except TimeoutError:
                raise SecretUnavailable(
                    SecretFailure.TIMED_OUT,
                    f"{label} did not finish within {self.timeout:g} seconds; it was "
                    "stopped.") from None
        finally:
            _kill_group(process)
            self._running.discard(process)
            await _reap(process)
        if output is None:
            raise SecretUnavailable(
                SecretFailure.COMMAND_FAILED,
                f"{label} printed more than {MAX_OUTPUT} bytes; it was stopped.")
        if status != 0:
            how = (f"was killed by signal {-status}" if status < 0
                   else f"exited with status {status}")
            raise SecretUnavailable(
                SecretFailure.COMMAND_FAILED,
                f"{label} {how}; its standard error ({error_bytes} bytes) is not shown.")
        try:
            text = output.decode("utf-8")
        except UnicodeDecodeError:
            raise SecretUnavailable(SecretFailure.COMMAND_FAILED,
                                    f"{label} printed something that is not UTF-8.") from None
        value = text.split("\n", 1)[0].removesuffix("\r")
        if not value:
            raise SecretUnavailable(SecretFailure.EMPTY,
                                    f"{label} printed nothing on its first line.")
        return value

    async def aclose(self) -> None:
        """Stops whatever is still running (a fetch cancelled from outside)."""
        for process in list(self._running):
            _kill_group(process)
            await _reap(process)
        self._running.clear()


async def _read_limited(process: asyncio.subprocess.Process) -> bytes | None:
    """All of standard output, or None (and the group killed) past `MAX_OUTPUT`."""
    assert process.stdout is not None
    chunks: list[bytes] = []
    size = 0
    while chunk := await process.stdout.read(8192):
        size += len(chunk)
        if size > MAX_OUTPUT:
            _kill_group(process)
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def _count(stream: asyncio.StreamReader | None) -> int:
    """Reads standard error to its end and keeps only its length."""
    assert stream is not None
    size = 0
    while chunk := await stream.read(8192):
        size += len(chunk)
    return size


def _kill_group(process: asyncio.subprocess.Process) -> None:
    """The command and everything it started in its session (`start_new_session`); the
    command itself once more, should the group be out of reach."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            process.kill()


async def _reap(process: asyncio.subprocess.Process) -> None:
    """Waits for the killed command, but not forever: one that cannot be killed (it
    changed its user, say through sudo) is left to finish alone, and said so."""
    if process.returncode is not None:
        return
    try:
        await asyncio.wait_for(asyncio.shield(process.wait()), REAP_GRACE)
    except TimeoutError:
        log.warning("The PAM command (pid %d) could not be stopped; it is left running",
                    process.pid)
