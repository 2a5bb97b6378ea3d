"""Manifest authentication and the restore-side checks that need no Vault (local store, crafted blobs)."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

from vault.backup.crypto import BackupKey, encrypt_file
from vault.backup.errors import ChecksumMismatch, EmptyBackupError, ManifestError
from vault.backup.manifest import Manifest, SourceInfo, backup_name, blob_key, manifest_key, parse_name
from vault.backup.restore import fetch_verified
from vault.backup.stores import LocalStore


def _manifest(name: str = "vault-20261125T020000Z", **changes: object) -> Manifest:
    values: dict[str, object] = dict(
        name=name, created_at="2026-11-25T02:00:00+00:00", source=SourceInfo(["http://127.0.0.1:8200"]),
        plaintext_bytes=10, plaintext_sha256="a" * 64, ciphertext_bytes=59, ciphertext_sha256="b" * 64,
        chunk_size=1024, key_id="00" * 8, secret_mounts=["vps"], secrets={"vps/t1/admin_ssh": (1, "c" * 64)},
        canaries=["vps/canary/restore_canary"],
    )
    values.update(changes)
    return Manifest(**values)  # type: ignore[arg-type]


def test_manifest_round_trip() -> None:
    key = BackupKey.generate()
    manifest = _manifest()
    assert Manifest.from_json(manifest.to_json(key), key) == manifest


def test_every_flipped_byte_of_the_manifest_is_detected() -> None:
    key = BackupKey.generate()
    raw = _manifest().to_json(key)
    for offset in range(len(raw)):
        tampered = bytearray(raw)
        tampered[offset] ^= 0x01
        with pytest.raises(ManifestError):
            Manifest.from_json(bytes(tampered), key)


def test_manifest_with_other_key_or_empty_refused() -> None:
    raw = _manifest().to_json(BackupKey.generate())
    with pytest.raises(ManifestError):
        Manifest.from_json(raw, BackupKey.generate())
    with pytest.raises(ManifestError):
        Manifest.from_json(b"", BackupKey.generate())


def test_names() -> None:
    name = backup_name(parse_name("vault-20261125T020000Z") or pytest.fail("unparsed"))
    assert name == "vault-20261125T020000Z"
    assert parse_name("vault-2026.snap.enc") is None


def _stored_backup(tmp_path: Path, key: BackupKey) -> tuple[LocalStore, str]:
    store = LocalStore(tmp_path / "store")
    name = "vault-20261125T020000Z"
    snap = tmp_path / "snap.gz"
    snap.write_bytes(gzip.compress(os.urandom(5000)))
    blob = tmp_path / blob_key(name)
    stats = encrypt_file(snap, blob, key, chunk_size=512)
    manifest = _manifest(name, plaintext_bytes=stats.plaintext_bytes, plaintext_sha256=stats.plaintext_sha256,
                         ciphertext_bytes=stats.ciphertext_bytes, ciphertext_sha256=stats.ciphertext_sha256)
    store.put(blob_key(name), blob)
    store.put_bytes(manifest_key(name), manifest.to_json(key))
    return store, name


def test_fetch_verified_accepts_an_intact_backup(tmp_path: Path) -> None:
    key = BackupKey.generate()
    store, name = _stored_backup(tmp_path, key)
    work = tmp_path / "work"
    work.mkdir()
    verified = fetch_verified(store, name, key, work)
    assert verified.snapshot.read_bytes()[:2] == b"\x1f\x8b"


def test_fetch_verified_refuses_zero_byte_and_corrupt_blobs(tmp_path: Path) -> None:
    key = BackupKey.generate()
    store, name = _stored_backup(tmp_path, key)
    blob = store.root / blob_key(name)
    raw = blob.read_bytes()
    blob.write_bytes(raw[:100] + bytes([raw[100] ^ 1]) + raw[101:])
    with pytest.raises(ChecksumMismatch):
        fetch_verified(store, name, key, tmp_path)
    blob.write_bytes(b"")
    with pytest.raises(EmptyBackupError):
        fetch_verified(store, name, key, tmp_path)


def test_fetch_verified_refuses_a_swapped_blob(tmp_path: Path) -> None:
    """A validly encrypted blob of other data (same key) fails the ciphertext checksum."""
    key = BackupKey.generate()
    store, name = _stored_backup(tmp_path, key)
    other = tmp_path / "other.gz"
    other.write_bytes(gzip.compress(b"other"))
    encrypt_file(other, tmp_path / "other.enc", key)
    store.put(blob_key(name), tmp_path / "other.enc")
    with pytest.raises(ChecksumMismatch):
        fetch_verified(store, name, key, tmp_path)
