"""S3 destination against a local moto server: store interface, backup -> fetch -> verify round trip."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sandbox.openbao import RaftCluster
from tests.fixtures.backup import client_of
from vault.backup import (
    BackupKey,
    BackupNotFound,
    ChecksumMismatch,
    S3Store,
    create_backup,
    latest_backup,
    list_backups,
    prune,
)
from vault.backup.crypto import sha256_file
from vault.backup.manifest import blob_key
from vault.backup.restore import fetch_verified


def _store(s3: dict[str, Any], prefix: str = "prod/vault") -> S3Store:
    return S3Store(s3["bucket"], prefix, endpoint_url=s3["endpoint"], client=s3["client"])


def test_s3_store_interface(s3_server: dict[str, Any], tmp_path: Path) -> None:
    store = _store(s3_server)
    source = tmp_path / "obj"
    source.write_bytes(b"x" * 70_000)
    store.put("a.snap.enc", source)
    store.put_bytes("a.manifest.json", b"{}")
    assert store.list() == ["a.manifest.json", "a.snap.enc"]
    assert store.size("a.snap.enc") == 70_000
    store.get("a.snap.enc", tmp_path / "back")
    assert (tmp_path / "back").read_bytes() == source.read_bytes()
    store.delete("a.snap.enc")
    assert store.list() == ["a.manifest.json"]
    assert _store(s3_server, "other").list() == []
    with pytest.raises(BackupNotFound):
        store.get_bytes("a.snap.enc")


def test_backup_to_s3_round_trip(seeded_source: tuple[RaftCluster, dict[str, Any]], s3_server: dict[str, Any],
                                 backup_key: BackupKey, tmp_path: Path) -> None:
    cluster, data = seeded_source
    store = _store(s3_server)
    result = create_backup(client_of(cluster), store, backup_key)
    assert [r.name for r in list_backups(store)] == [result.manifest.name]
    verified = fetch_verified(store, latest_backup(store).name, backup_key, tmp_path)
    size, digest = sha256_file(verified.snapshot)
    assert (size, digest) == (result.manifest.plaintext_bytes, result.manifest.plaintext_sha256)
    assert set(data) <= set(verified.manifest.secrets)
    assert prune(store) == []

    # A corrupted object in the bucket is refused.
    blob = blob_key(result.manifest.name)
    raw = bytearray(store.get_bytes(blob))
    raw[len(raw) // 2] ^= 0xFF
    store.put_bytes(blob, bytes(raw))
    with pytest.raises(ChecksumMismatch):
        fetch_verified(store, result.manifest.name, backup_key, tmp_path)
