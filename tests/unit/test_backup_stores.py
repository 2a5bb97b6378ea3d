"""LocalStore: put/get/list/delete, atomic private files, names that could escape refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from vault.backup.errors import BackupNotFound, StoreError
from vault.backup.stores import LocalStore, S3Store, open_store


def test_local_store(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "backups")
    assert store.list() == []
    src = tmp_path / "src"
    src.write_bytes(b"blob")
    store.put("vault-1.snap.enc", src)
    store.put_bytes("vault-1.manifest.json", b"{}")
    assert store.list() == ["vault-1.manifest.json", "vault-1.snap.enc"]
    assert store.size("vault-1.snap.enc") == 4
    assert (store.root / "vault-1.snap.enc").stat().st_mode & 0o777 == 0o600
    store.get("vault-1.snap.enc", tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == b"blob"
    store.delete("vault-1.snap.enc")
    store.delete("vault-1.snap.enc")
    assert store.list() == ["vault-1.manifest.json"]
    with pytest.raises(BackupNotFound):
        store.get_bytes("vault-1.snap.enc")


@pytest.mark.parametrize("name", ["../x", "a/b", "", ".hidden", "a..b"])
def test_bad_names_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(StoreError):
        LocalStore(tmp_path).put_bytes(name, b"x")


def test_open_store(tmp_path: Path) -> None:
    assert isinstance(open_store(tmp_path), LocalStore)
    s3 = open_store("s3://bucket/some/prefix/", s3_endpoint="http://127.0.0.1:1")
    assert isinstance(s3, S3Store) and (s3.bucket, s3.prefix) == ("bucket", "some/prefix")
    with pytest.raises(StoreError):
        open_store("s3:///prefix")
