"""Secrets at rest: AES-GCM sealing bound to its column, key files, rotation rings."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from smtp_profile.domain.secrets import Secret
from smtp_profile.store.secret_box import (
    KEY_FILE_NAME,
    NEXT_KEY_FILE_NAME,
    SealedSecret,
    SecretBox,
    SecretKeyError,
    decode_key,
    encode_key,
    load_keys,
    new_key,
    write_key_file,
)


def test_seal_and_open_round_trip_with_fresh_nonces() -> None:
    box = SecretBox([new_key()])
    first, second = box.seal("pw", "col"), box.seal("pw", "col")
    assert first != second and b"pw" not in first
    assert box.open(first, "col") == "pw"


def test_a_value_moved_to_another_column_does_not_open() -> None:
    box = SecretBox([new_key()])
    with pytest.raises(SecretKeyError):
        box.open(box.seal("pw", "password"), "client_secret")


def test_tampering_is_detected() -> None:
    box = SecretBox([new_key()])
    sealed = bytearray(box.seal("pw", "col"))
    sealed[-1] ^= 1
    with pytest.raises(SecretKeyError):
        box.open(bytes(sealed), "col")


def test_a_sealed_secret_checks_its_key_when_read_and_opens_at_first_use() -> None:
    key, other = new_key(), new_key()
    box = SecretBox([key])
    sealed = box.seal("pw-1", "password")
    with pytest.raises(SecretKeyError, match="key this service does not have"):
        SealedSecret(SecretBox([other]), sealed, "password")  # the wrong key: at once
    with pytest.raises(SecretKeyError, match="unknown format"):
        SealedSecret(box, b"\x02" + sealed[1:], "password")
    secret = SealedSecret(box, sealed, "password")
    assert repr(secret) == str(secret) == "Secret(***)" and f"{secret}" == "***"
    assert "pw-1" not in repr(secret) + f"{secret}"
    assert secret.reveal() == "pw-1" and secret == Secret("pw-1") and Secret("pw-1") == secret
    assert secret != Secret("pw-2")
    tampered = bytearray(sealed)
    tampered[-1] ^= 1
    altered = SealedSecret(box, bytes(tampered), "password")  # its key is right
    with pytest.raises(SecretKeyError, match="altered or moved"):
        altered.reveal()  # refused before its value is used anywhere
    moved = SealedSecret(box, sealed, "client_secret")
    with pytest.raises(SecretKeyError, match="altered or moved"):
        moved.reveal()
    assert SealedSecret(box, sealed, "password").reveal() == "pw-1"  # and on it goes


def test_a_ring_opens_old_values_and_seals_with_the_first_key() -> None:
    old, fresh = new_key(), new_key()
    sealed_old = SecretBox([old]).seal("pw", "c")
    ring = SecretBox([fresh, old])
    assert ring.open(sealed_old, "c") == "pw"
    assert SecretBox([fresh]).open(ring.seal("pw", "c"), "c") == "pw"  # sealed with `fresh`
    with pytest.raises(SecretKeyError):
        SecretBox([fresh]).open(sealed_old, "c")


def test_key_file_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    [key] = load_keys(tmp_path, None, create=True)
    assert stat.S_IMODE((tmp_path / KEY_FILE_NAME).stat().st_mode) == 0o600
    assert load_keys(tmp_path, None, create=True) == [key]
    write_key_file(tmp_path / NEXT_KEY_FILE_NAME, new_key())
    assert len(load_keys(tmp_path, None, create=False)) == 2


def test_environment_key_wins_and_bad_keys_are_explained(tmp_path: Path) -> None:
    key = new_key()
    assert load_keys(tmp_path, encode_key(key), create=True) == [key]
    assert not (tmp_path / KEY_FILE_NAME).exists()
    with pytest.raises(SecretKeyError, match="base64"):
        decode_key("not base64!", source="X")
    with pytest.raises(SecretKeyError, match="32 bytes"):
        decode_key(encode_key(b"short"), source="X")
    with pytest.raises(SecretKeyError, match="no key file"):
        load_keys(tmp_path / "empty", None, create=False)


def test_the_key_file_is_written_through_a_unique_temporary_file(tmp_path: Path) -> None:
    """A leftover or planted `secret.key.tmp` (here a link to another file) is neither
    written through nor reused; no temporary file is left behind."""
    victim = tmp_path / "victim"
    victim.write_text("not yours\n")
    (tmp_path / "secret.key.tmp").symlink_to(victim)
    key = new_key()
    write_key_file(tmp_path / KEY_FILE_NAME, key)
    assert victim.read_text() == "not yours\n"
    assert load_keys(tmp_path, None, create=False) == [key]
    assert sorted(p.name for p in tmp_path.iterdir()) == [KEY_FILE_NAME, "secret.key.tmp",
                                                           "victim"]


def test_the_key_file_and_its_directory_are_fsynced(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The real fsync runs; the spy notes what it was given: the file, then the directory
    the rename changed (without which the new name may not survive a power cut)."""
    synced: list[str] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        mode = os.fstat(fd).st_mode
        synced.append("directory" if stat.S_ISDIR(mode) else "file")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    write_key_file(tmp_path / KEY_FILE_NAME, new_key())
    assert synced == ["file", "directory"]


@pytest.mark.parametrize("content", [b"\xff\xfe\x00garbage\x80", b"", b"not base64 at all!",
                                     b"QUJD\n"])
def test_a_corrupt_key_file_is_a_clear_error(tmp_path: Path, content: bytes) -> None:
    (tmp_path / KEY_FILE_NAME).write_bytes(content)
    with pytest.raises(SecretKeyError, match=r"key file .* corrupt"):
        load_keys(tmp_path, None, create=True)
    (tmp_path / KEY_FILE_NAME).unlink()
    (tmp_path / KEY_FILE_NAME).mkdir()  # unreadable as a file
    with pytest.raises(SecretKeyError, match="cannot be read"):
        load_keys(tmp_path, None, create=True)
