"""Local users: who may call the API, with which permissions, proven by an argon2 hash.

argon2 is deliberately slow (tens of milliseconds), which would make every API call
slow, so a successful check is remembered (`usecases/memory.py`, `VerifiedPasswords`):
changing a password changes the stored hash and so invalidates its entries by
construction.
"""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.low_level import ARGON2_VERSION

from smtp_profile.domain.permissions import ALL_PERMISSIONS, Permission
from smtp_profile.domain.secrets import Secret
from smtp_profile.domain.stored import UserRecord
from smtp_profile.settings import INITIAL_ADMIN_PASSWORD_FILE
from smtp_profile.usecases.memory import VerifiedPasswords
from smtp_profile.usecases.ports import UserExists, UserStore

INITIAL_ADMIN = "admin"
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024


@dataclass(frozen=True)
class Principal:
    """An authenticated caller."""

    name: str
    permissions: frozenset[Permission]

    def may(self, permission: Permission) -> bool:
        return permission in self.permissions


class WeakPassword(ValueError):
    pass


def check_new_password(password: Secret) -> None:
    value = password.reveal()
    if len(value) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if len(value) > MAX_PASSWORD_LENGTH:
        raise WeakPassword(f"the password must have at most {MAX_PASSWORD_LENGTH} characters")


def unmatchable_hash(hasher: PasswordHasher) -> str:
    """A hash in `hasher`'s encoding and with its cost parameters that no password
    matches (random salt, random digest), for an unknown user's check to cost what a
    known user's does. Written out, not computed: hashing a password at start cost a
    full argon2 run (64 MiB, a large part of a restart) for a value never compared."""
    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode("ascii").rstrip("=")

    return (f"$argon2{hasher.type.name.lower()}$v={ARGON2_VERSION}"
            f"$m={hasher.memory_cost},t={hasher.time_cost},p={hasher.parallelism}"
            f"${b64(secrets.token_bytes(hasher.salt_len))}"
            f"${b64(secrets.token_bytes(hasher.hash_len))}")


class Accounts:
    def __init__(self, repository: UserStore, hasher: PasswordHasher | None = None,
                 verified: VerifiedPasswords | None = None) -> None:
        self._repository = repository
        self._hasher = hasher or PasswordHasher()
        self._verified = VerifiedPasswords() if verified is None else verified
        self._dummy_hash = unmatchable_hash(self._hasher)

    async def verify(self, record: UserRecord | None, password: Secret) -> Principal | None:
        """The principal if `password` is `record`'s; an unknown user costs the same."""
        stored_hash = record.password_hash if record else self._dummy_hash
        if not await self._verify_hash(stored_hash, password) or record is None:
            return None
        return Principal(record.name, record.permissions)

    def verified_before(self, record: UserRecord, password: Secret) -> Principal | None:
        """The principal if this very password was verified for this very hash before;
        None means "not known", not "wrong": only `verify` may say that."""
        if not self._verified.knows(record.password_hash, password):
            return None
        return Principal(record.name, record.permissions)

    async def _verify_hash(self, stored_hash: str, password: Secret) -> bool:
        if self._verified.knows(stored_hash, password, refresh=True):
            return True
        try:
            await asyncio.to_thread(self._hasher.verify, stored_hash, password.reveal())
        except (VerificationError, InvalidHashError):
            return False
        self._verified.keep(stored_hash, password)
        return True

    async def add(self, name: str, password: Secret, permissions: frozenset[Permission]) -> None:
        check_new_password(password)
        await self._repository.add(name, await self._hash(password), permissions)

    async def set_password(self, name: str, password: Secret) -> None:
        check_new_password(password)
        await self._repository.set_password_hash(name, await self._hash(password))

    async def remove(self, name: str) -> None:
        await self._repository.remove(name)

    async def list(self) -> list[UserRecord]:
        return await self._repository.list()

    async def ensure_initial_admin(self, data_dir: Path) -> Path | None:
        """On first start, create `admin` with a random password kept in a 0600 file."""
        if await self._repository.count() > 0:
            return None
        password = secrets.token_urlsafe(18)
        try:
            await self.add(INITIAL_ADMIN, Secret(password), ALL_PERMISSIONS)
        except UserExists:  # another instance starting at the same moment won
            return None
        path = data_dir / INITIAL_ADMIN_PASSWORD_FILE
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, (password + "\n").encode("ascii"))
        finally:
            os.close(fd)
        os.chmod(path, 0o600)
        return path

    async def _hash(self, password: Secret) -> str:
        return await asyncio.to_thread(self._hasher.hash, password.reveal())
