"""A small, real PAM provider type for tests: secrets are files in a directory.

It exists so the reference machinery (routes, storage, the `secret` step, the cache) is
tested without depending on the Vault, AWS or command types. It is honest: it reads real
files, and each way it can fail is a real condition of the directory, mapped to the
`SecretFailure` a vault would give for the like condition:

- the directory is missing: UNREACHABLE (the provider is not there);
- `<dir>/.token` does not hold the provider's Token: SIGNED_OUT;
- the file is listed in `<dir>/.denied` (the token's policy): FORBIDDEN;
- no such file: NOT_FOUND; an empty file: EMPTY;
- a `File` with a path separator or `..`: MISCONFIGURED;
- a named pipe nobody writes to: the read waits, the type's time limit gives TIMED_OUT.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from smtp_profile.domain.errors import ValidationFailed
from smtp_profile.domain.secret_reference import (
    ParameterSpec,
    SecretFailure,
    SecretUnavailable,
)
from smtp_profile.pam.registry import PROVIDER_TYPES

TYPE_NAME = "Test-Files"


class FileSource:
    def __init__(self, directory: Path, token: str, timeout: float) -> None:
        self._directory = directory
        self._token = token
        self._timeout = timeout
        self.fetches = 0

    async def fetch(self, parameters: Mapping[str, str]) -> str:
        name = parameters.get("File", "")
        if not name or "/" in name or "\\" in name or ".." in name:
            raise SecretUnavailable(SecretFailure.MISCONFIGURED,
                                    f"File {name!r} must be a plain file name")
        if not self._directory.is_dir():
            raise SecretUnavailable(SecretFailure.UNREACHABLE,
                                    f"the directory {self._directory} is not there")
        token_file = self._directory / ".token"
        if not token_file.exists() or token_file.read_text().strip() != self._token:
            raise SecretUnavailable(SecretFailure.SIGNED_OUT, "the token was refused")
        denied = self._directory / ".denied"
        if denied.exists() and name in denied.read_text().split():
            raise SecretUnavailable(SecretFailure.FORBIDDEN, f"not allowed to read {name!r}")
        path = self._directory / name
        try:
            async with asyncio.timeout(self._timeout):
                text = await _read(path)
        except TimeoutError:
            raise SecretUnavailable(SecretFailure.TIMED_OUT,
                                    f"no answer within {self._timeout:g} s") from None
        except FileNotFoundError:
            raise SecretUnavailable(SecretFailure.NOT_FOUND, f"no secret {name!r}") from None
        value = text.rstrip("\n")
        if not value:
            raise SecretUnavailable(SecretFailure.EMPTY, f"the secret {name!r} is empty")
        return value

    async def aclose(self) -> None:
        return None


async def _read(path: Path) -> str:
    """The file's text; a named pipe is read as it is written, waiting for a writer."""
    if not await asyncio.to_thread(path.is_fifo):
        return await asyncio.to_thread(path.read_text)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        while True:
            try:
                chunk = os.read(fd, 4096)
            except BlockingIOError:
                chunk = b""
            if chunk:
                return chunk.decode()
            await asyncio.sleep(0.05)  # no writer yet: look again
    finally:
        os.close(fd)


class FileProviderType:
    name = TYPE_NAME
    parameters: tuple[ParameterSpec, ...] = (
        ParameterSpec("Directory", "Directory holding the secrets"),
        ParameterSpec("Token", "Access token", secret=True),
        ParameterSpec("Label", "A label", required=False),
        ParameterSpec("File", "Secret file name", instance_level=True),
    )

    def validate(self, settings: Mapping[str, str]) -> None:
        if not settings.get("Directory", "").startswith("/"):
            raise ValidationFailed(["Directory must be an absolute path"])

    def open(self, settings: Mapping[str, str], *, timeout: float) -> FileSource:
        return FileSource(Path(settings["Directory"]), settings["Token"], timeout)


@pytest.fixture
def file_provider_type() -> Iterator[FileProviderType]:
    """The type registered for the duration of one test."""
    provider_type = FileProviderType()
    PROVIDER_TYPES[TYPE_NAME] = provider_type
    yield provider_type
    PROVIDER_TYPES.pop(TYPE_NAME, None)


class Vault:
    """A directory of secret files with its token, as the tests arrange it."""

    def __init__(self, directory: Path, token: str) -> None:
        self.directory = directory
        self.token = token
        directory.mkdir(parents=True, exist_ok=True)
        (directory / ".token").write_text(token)

    def put(self, name: str, value: str) -> None:
        (self.directory / name).write_text(value)

    def provider_body(self, name: str = "files", **extra: object) -> dict[str, Any]:
        return {"Name": name, "ProviderType": {"Name": TYPE_NAME},
                "ProviderTypeParamValues": [
                    {"ProviderTypeParam": {"Name": "Directory"}, "Value": str(self.directory)},
                    {"ProviderTypeParam": {"Name": "Token"}, "Value": self.token}],
                **extra}
