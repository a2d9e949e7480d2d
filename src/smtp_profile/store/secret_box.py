"""Sealing secrets at rest with AES-256-GCM, the key file, and key rotation.

Each sealed value starts with a version byte and the id of the key that sealed it, so a
ring of keys can open values sealed before a rotation. The associated data names the
column the value belongs to: a ciphertext copied into another column does not open.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import secrets
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from smtp_profile.domain.errors import DomainError, ErrorKind
from smtp_profile.domain.secrets import Secret

if TYPE_CHECKING:  # imported where first used: see SecretBox
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_FILE_NAME = "secret.key"
NEXT_KEY_FILE_NAME = "secret.key.next"
_FORMAT = b"\x01"
_KEY_ID_LENGTH = 8
_NONCE_LENGTH = 12


class SecretKeyError(DomainError):
    """The key is missing, malformed, or does not open a stored secret.

    A DomainError (INTERNAL: the fault is in the service's data or key, not the request),
    so a use case that meets it while serving a request records the refusal as it records
    any other, and the API answers it in its error format."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorKind.INTERNAL, message)


def new_key() -> bytes:
    """A fresh AES-256 key: 32 bytes from the operating system's CSPRNG."""
    return secrets.token_bytes(32)


def encode_key(key: bytes) -> str:
    return base64.b64encode(key).decode("ascii")


def decode_key(text: str, *, source: str) -> bytes:
    """A 32-byte key from its base64 text; the error says where the bad key came from."""
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SecretKeyError(f"{source} is not valid base64") from None
    if len(key) != 32:
        raise SecretKeyError(f"{source} must decode to 32 bytes (AES-256), not {len(key)}")
    return key


def key_id(key: bytes) -> bytes:
    return hashlib.sha256(b"smtp-profile key id\x00" + key).digest()[:_KEY_ID_LENGTH]


class SecretBox:
    """Seals with the first key; opens with any key of the ring.

    With `key_files`, a running service follows `rotate-key`: when the key files change
    on disk, their keys join the ring (none leaves it) and the newest seals, so a secret
    re-sealed under the new key still opens and a PUT during or after the rotation seals
    under the key that stays.

    The ring holds the raw keys; each key's cipher is made the first time it seals or
    opens. `cryptography` (about 8 MB resident in the service) is imported then, not at
    start: a service that has only answered GETs never loads it.
    """

    def __init__(self, keys: Iterable[bytes], *, key_files: KeyFiles | None = None) -> None:
        ring = list(keys)
        if not ring:
            raise SecretKeyError("no secret key configured")
        self._sealing_key = ring[0]
        self._ring = {key_id(k): k for k in ring}
        self._ciphers: dict[bytes, AESGCM] = {}
        self._key_files = key_files

    def _cipher(self, kid: bytes) -> AESGCM:
        """The cipher of a key of the ring (`kid` from `check_key` or the sealing key)."""
        cipher = self._ciphers.get(kid)
        if cipher is None:
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM

            cipher = self._ciphers[kid] = AESGCM(self._ring[kid])
        return cipher

    def _follow_key_files(self) -> None:
        files = self._key_files
        changed = None if files is None else files.changed()
        if changed:
            for key in changed:
                self._ring.setdefault(key_id(key), key)
            self._sealing_key = changed[-1]

    def seal(self, plaintext: str, context: str) -> bytes:
        self._follow_key_files()
        nonce = secrets.token_bytes(_NONCE_LENGTH)
        kid = key_id(self._sealing_key)
        ciphertext = self._cipher(kid).encrypt(nonce, plaintext.encode("utf-8"), self._aad(context))
        return _FORMAT + kid + nonce + ciphertext

    def check_key(self, sealed: bytes) -> bytes:
        """The id of the ring's key that sealed `sealed`; SecretKeyError if it is not in
        this format or no key of the ring sealed it. No cipher (so no `cryptography`)."""
        if not sealed.startswith(_FORMAT):
            raise SecretKeyError("stored secret has an unknown format")
        kid = sealed[1 : 1 + _KEY_ID_LENGTH]
        if kid not in self._ring:
            self._follow_key_files()
        if kid not in self._ring:
            raise SecretKeyError(
                "a stored secret was sealed with a key this service does not have; "
                "set SMTP_PROFILE_SECRET_KEY or restore the key file"
            )
        return kid

    def open(self, sealed: bytes, context: str) -> str:
        kid = self.check_key(sealed)
        aead = self._cipher(kid)
        nonce = sealed[1 + _KEY_ID_LENGTH : 1 + _KEY_ID_LENGTH + _NONCE_LENGTH]
        from cryptography.exceptions import InvalidTag

        try:
            plain = aead.decrypt(nonce, sealed[1 + _KEY_ID_LENGTH + _NONCE_LENGTH :],
                                 self._aad(context))
        except InvalidTag:
            raise SecretKeyError("a stored secret does not open: it was altered or moved") from None
        return plain.decode("utf-8")

    @staticmethod
    def _aad(context: str) -> bytes:
        return b"smtp-profile\x00" + context.encode("utf-8")


class SealedSecret(Secret):
    """A stored secret whose key is checked when it is read and which is opened at its
    first `reveal()`.

    Why: reading the profile must not need the cipher. A restart reads it to prove its
    key (an instance with the wrong key refuses to start: `check_key` raises then, as
    `open` would), and a service that only answers GETs never reveals a secret, so it
    never loads `cryptography`. A ciphertext altered or moved to another column is
    refused at its first use, before its value is used anywhere."""

    __slots__ = ("_box", "_context", "_field", "_opened", "_sealed")

    def __init__(self, box: SecretBox, sealed: bytes, context: str,
                 field: str = "a stored secret") -> None:
        box.check_key(sealed)
        self._box, self._sealed, self._context, self._field = box, sealed, context, field
        self._opened: str | None = None

    def reveal(self) -> str:
        if self._opened is None:
            try:
                self._opened = self._box.open(self._sealed, self._context)
            except SecretKeyError:  # its key was checked: the ciphertext was changed
                raise SecretKeyError(f"{self._field} was altered or moved in the database "
                                     "and does not open; send it again to replace it") from None
        return self._opened

    def __eq__(self, other: object) -> bool:
        """What it holds, compared; a secret that does not open equals nothing, so a PUT
        that enters it again is a change and replaces it (while one that keeps it is
        refused, at the re-sealing)."""
        if not isinstance(other, Secret):
            return NotImplemented
        try:
            return super().__eq__(other)
        except SecretKeyError:
            return False

    __hash__ = Secret.__hash__


def write_key_file(path: Path, key: bytes) -> None:
    """Write a key file with mode 0600 atomically: never a half-written key, not even
    after a power cut.

    A temporary file of its own (mkstemp: unique, 0600, never an existing file, so two
    commands at once cannot write into each other's), written and fsynced, renamed over
    `path`, then the directory fsynced so that the rename itself is on disk.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        try:
            data = (encode_key(key) + "\n").encode("ascii")
            while data:
                data = data[os.write(fd, data):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_key_file(path: Path) -> bytes:
    """The key in `path`; a file that cannot be read or is not a key is a SecretKeyError
    naming it, never a traceback."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SecretKeyError(f"the key file {path} cannot be read: "
                             f"{exc.strerror or type(exc).__name__}") from None
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise SecretKeyError(f"the key file {path} is corrupt: it is not base64 text; "
                             "restore it from your backup") from None
    try:
        return decode_key(text, source=f"the key file {path}")
    except SecretKeyError as exc:
        raise SecretKeyError(f"{exc}: the file is corrupt; restore it from your "
                             "backup") from None


class KeyFiles:
    """The key files of a data dir, re-read only when they changed (two stat calls)."""

    def __init__(self, data_dir: Path) -> None:
        self._data_dir = data_dir
        self._seen: tuple[tuple[int, int, int] | None, ...] | None = None

    def _signature(self) -> tuple[tuple[int, int, int] | None, ...]:
        marks: list[tuple[int, int, int] | None] = []
        for name in (KEY_FILE_NAME, NEXT_KEY_FILE_NAME):
            try:
                info = (self._data_dir / name).stat()
            except OSError:
                marks.append(None)
            else:
                marks.append((info.st_ino, info.st_mtime_ns, info.st_size))
        return tuple(marks)

    def changed(self) -> list[bytes] | None:
        """The keys, current then next, if the files changed since the last look; an
        unreadable or half-rotated state is left for the next look."""
        signature = self._signature()
        if signature == self._seen:
            return None
        try:
            keys = load_keys(self._data_dir, None, create=False)
        except SecretKeyError:
            return None
        self._seen = signature
        return keys


def load_keys(data_dir: Path, env_key: str | None, *, create: bool) -> list[bytes]:
    """The key ring: the configured key first, then a rotation in progress, if any.

    Without `SMTP_PROFILE_SECRET_KEY`, the key lives in `<data-dir>/secret.key`, created
    on first start when `create` is set.
    """
    if env_key:
        return [decode_key(env_key, source="SMTP_PROFILE_SECRET_KEY")]
    path = data_dir / KEY_FILE_NAME
    next_path = data_dir / NEXT_KEY_FILE_NAME
    keys: list[bytes] = []
    if path.exists():
        keys.append(read_key_file(path))
    elif create:
        key = new_key()
        write_key_file(path, key)
        keys.append(key)
    else:
        raise SecretKeyError(f"no key file at {path}; start the service once to create it")
    if next_path.exists():
        keys.append(read_key_file(next_path))
    return keys
