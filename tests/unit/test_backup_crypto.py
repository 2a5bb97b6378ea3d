"""AES-256-GCM blob format: round trips, tamper/truncation/wrong-key detection, empty input refused, keys."""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path

import pytest

from vault.backup.crypto import (
    HEADER_BYTES,
    TAG_BYTES,
    BackupKey,
    decrypt_file,
    decrypt_stream,
    encrypt_file,
    encrypt_stream,
)
from vault.backup.errors import BackupKeyError, DecryptionError, EmptyBackupError, WrongKeyError

CHUNK = 64


def _encrypt(data: bytes, key: BackupKey, chunk: int = CHUNK) -> bytes:
    out = io.BytesIO()
    encrypt_stream(io.BytesIO(data), out, key, chunk)
    return out.getvalue()


def _decrypt(blob: bytes, key: BackupKey) -> bytes:
    out = io.BytesIO()
    decrypt_stream(io.BytesIO(blob), out, key)
    return out.getvalue()


@pytest.mark.parametrize("size", [1, CHUNK - 1, CHUNK, CHUNK + 1, 5 * CHUNK, 5 * CHUNK + 7])
def test_round_trip(size: int) -> None:
    key = BackupKey.generate()
    data = os.urandom(size)
    blob = _encrypt(data, key)
    chunks = -(-size // CHUNK)
    assert len(blob) == HEADER_BYTES + size + chunks * TAG_BYTES
    assert _decrypt(blob, key) == data


def test_file_round_trip_reports_both_checksums(tmp_path: Path) -> None:
    key = BackupKey.generate()
    plain = tmp_path / "snap"
    plain.write_bytes(os.urandom(3 * 1024 * 1024 + 5))
    enc = encrypt_file(plain, tmp_path / "blob", key)
    dec = decrypt_file(tmp_path / "blob", tmp_path / "out", key)
    assert enc == dec
    assert (tmp_path / "out").read_bytes() == plain.read_bytes()
    assert (tmp_path / "blob").stat().st_mode & 0o777 == 0o600


def test_same_plaintext_encrypts_differently() -> None:
    key = BackupKey.generate()
    assert _encrypt(b"snapshot", key) != _encrypt(b"snapshot", key)


def test_every_flipped_byte_is_detected() -> None:
    key = BackupKey.generate()
    blob = _encrypt(os.urandom(3 * CHUNK + 10), key)
    for offset in range(len(blob)):
        tampered = bytearray(blob)
        tampered[offset] ^= 0x40
        with pytest.raises(DecryptionError):
            _decrypt(bytes(tampered), key)


@pytest.mark.parametrize("cut", [1, TAG_BYTES, CHUNK + TAG_BYTES, 2 * (CHUNK + TAG_BYTES)])
def test_truncation_is_detected(cut: int) -> None:
    key = BackupKey.generate()
    blob = _encrypt(os.urandom(4 * CHUNK), key)
    with pytest.raises(DecryptionError):
        _decrypt(blob[:-cut], key)


def test_appended_or_reordered_chunks_are_detected() -> None:
    key = BackupKey.generate()
    blob = _encrypt(os.urandom(3 * CHUNK), key)
    sealed = CHUNK + TAG_BYTES
    header, c0, c1, c2 = blob[:HEADER_BYTES], *(blob[HEADER_BYTES + i * sealed:HEADER_BYTES + (i + 1) * sealed]
                                                 for i in range(3))
    with pytest.raises(DecryptionError):
        _decrypt(blob + c2, key)
    with pytest.raises(DecryptionError):
        _decrypt(header + c1 + c0 + c2, key)


def test_wrong_key_is_named() -> None:
    blob = _encrypt(b"data", BackupKey.generate())
    with pytest.raises(WrongKeyError):
        _decrypt(blob, BackupKey.generate())


def test_empty_plaintext_refused() -> None:
    with pytest.raises(EmptyBackupError):
        _encrypt(b"", BackupKey.generate())


def test_zero_byte_blob_refused(tmp_path: Path) -> None:
    (tmp_path / "blob").write_bytes(b"")
    with pytest.raises(EmptyBackupError):
        decrypt_file(tmp_path / "blob", tmp_path / "out", BackupKey.generate())
    assert not (tmp_path / "out").exists()


def test_header_only_and_garbage_refused() -> None:
    key = BackupKey.generate()
    blob = _encrypt(b"data", key)
    with pytest.raises(DecryptionError):
        _decrypt(blob[:HEADER_BYTES], key)
    with pytest.raises(DecryptionError):
        _decrypt(b"not a backup at all, just some text" * 3, key)


def test_key_loading(tmp_path: Path) -> None:
    key = BackupKey.generate()
    encoded = key.to_base64()
    assert BackupKey.load(env={"PM_BACKUP_KEY": encoded}).key_id == key.key_id
    path = tmp_path / "backup.key"
    path.write_text(encoded + "\n")
    path.chmod(0o600)
    assert BackupKey.load(path, env={}).key_id == key.key_id
    assert BackupKey.load(env={"PM_BACKUP_KEY_FILE": str(path)}).key_id == key.key_id
    raw = tmp_path / "raw.key"
    raw.write_bytes(base64.b64decode(encoded))
    assert BackupKey.from_file(raw).key_id == key.key_id


@pytest.mark.parametrize("env", [{}, {"PM_BACKUP_KEY": "not base64!"},
                                 {"PM_BACKUP_KEY": base64.b64encode(b"short").decode()}])
def test_bad_keys_refused(env: dict[str, str]) -> None:
    with pytest.raises(BackupKeyError):
        BackupKey.load(env=env)


def test_key_never_shown() -> None:
    key = BackupKey.generate()
    secret = key.to_base64()
    assert secret not in repr(key) and secret not in str(key)
