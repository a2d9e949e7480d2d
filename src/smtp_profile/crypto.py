"""Sealing secrets at rest with AES-256-GCM, the key file, and key rotation.

Each sealed value starts with a version byte and the id of the key that sealed it, so a
ring of keys can open values sealed before a rotation. The associated data names the
column the value belongs to: a ciphertext copied into another column does not open.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_FILE_NAME = "secret.key"
NEXT_KEY_FILE_NAME = "secret.key.next"
_FORMAT = b"\x01"
_KEY_ID_LENGTH = 8
_NONCE_LENGTH = 12


class SecretKeyError(Exception):
    """The key is missing, malformed, or does not open a stored secret."""


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


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
    """Seals with the first key; opens with any key of the ring."""

    def __init__(self, keys: Iterable[bytes]) -> None:
        ring = list(keys)
        if not ring:
            raise SecretKeyError("no secret key configured")
        self._sealing_key = ring[0]
        self._ring = {key_id(k): AESGCM(k) for k in ring}

    def seal(self, plaintext: str, context: str) -> bytes:
        nonce = secrets.token_bytes(_NONCE_LENGTH)
        kid = key_id(self._sealing_key)
        ciphertext = self._ring[kid].encrypt(nonce, plaintext.encode("utf-8"),
                                             self._aad(context))
        return _FORMAT + kid + nonce + ciphertext

    def open(self, sealed: bytes, context: str) -> str:
        if not sealed.startswith(_FORMAT):
            raise SecretKeyError("stored secret has an unknown format")
        kid = sealed[1 : 1 + _KEY_ID_LENGTH]
        nonce = sealed[1 + _KEY_ID_LENGTH : 1 + _KEY_ID_LENGTH + _NONCE_LENGTH]
        aead = self._ring.get(kid)
        if aead is None:
            raise SecretKeyError(
                "a stored secret was sealed with a key this service does not have; "
                "set SMTP_PROFILE_SECRET_KEY or restore the key file"
            )
        try:
            plain = aead.decrypt(nonce, sealed[1 + _KEY_ID_LENGTH + _NONCE_LENGTH :],
                                 self._aad(context))
        except InvalidTag:
            raise SecretKeyError("a stored secret does not open: it was altered or moved") from None
        return plain.decode("utf-8")

    def sealed_with_current_key(self, sealed: bytes) -> bool:
        return sealed[1 : 1 + _KEY_ID_LENGTH] == key_id(self._sealing_key)

    @staticmethod
    def _aad(context: str) -> bytes:
        return b"smtp-profile\x00" + context.encode("utf-8")


def write_key_file(path: Path, key: bytes) -> None:
    """Write a key file with mode 0600 atomically (never a half-written key)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, (encode_key(key) + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


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
        keys.append(decode_key(path.read_text("ascii"), source=str(path)))
    elif create:
        key = new_key()
        write_key_file(path, key)
        keys.append(key)
    else:
        raise SecretKeyError(f"no key file at {path}; start the service once to create it")
    if next_path.exists():
        keys.append(decode_key(next_path.read_text("ascii"), source=str(next_path)))
    return keys
