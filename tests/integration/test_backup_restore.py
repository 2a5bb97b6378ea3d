"""Backup -> restore into a fresh raft cluster -> every secret identical; tampering refused; drill."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sandbox.openbao import DevServer, RaftCluster
from tests.fixtures.backup import client_of, read_all
from toolkit.errors import ToolkitError
from toolkit.redact import Secret
from vault.backup import (
    BackupKey,
    ChecksumMismatch,
    EmptyBackupError,
    LocalStore,
    ManifestError,
    WrongKeyError,
    create_backup,
    latest_backup,
    list_backups,
    restore_backup,
)
from vault.backup.drill import run_drill
from vault.backup.errors import SnapshotError
from vault.backup.inventory import DEFAULT_MOUNTS, canary_path
from vault.backup.manifest import blob_key, manifest_key
from vault.backup.verify_login import VerifyLogin
from vault.client import VaultClient
from vault.cluster import backup_policy, make_approle
from vault.config import VaultConfig

REPO = Path(__file__).resolve().parents[2]
Source = tuple[RaftCluster, dict[str, Any]]
# A target nobody listens on: tampered backups must be refused before any target is contacted.
UNREACHABLE = VaultConfig(("http://127.0.0.1:9",), token=Secret("unused-token"))


@pytest.fixture
def unreachable() -> VaultClient:
    return VaultClient(UNREACHABLE, manage_token=False)


@pytest.fixture(scope="module")
def stored_backup(seeded_source: Source, module_backup_key: BackupKey,
                  tmp_path_factory: pytest.TempPathFactory) -> LocalStore:
    cluster, _ = seeded_source
    store = LocalStore(tmp_path_factory.mktemp("backups"))
    result = create_backup(client_of(cluster), store, module_backup_key)
    assert result.manifest.plaintext_bytes > 0
    return store


def test_backup_records_every_secret_and_canaries(seeded_source: Source, stored_backup: LocalStore,
                                                  module_backup_key: BackupKey) -> None:
    _, data = seeded_source
    ref = latest_backup(stored_backup)
    manifest = _manifest(stored_backup, ref.name, module_backup_key)
    assert set(data) <= set(manifest.secrets)
    assert len(manifest.canaries) == 4
    assert set(manifest.secrets) - set(data) == set(manifest.canaries)
    assert manifest.source.threshold == 3 and manifest.source.shares == 5
    text = (stored_backup.root / manifest_key(ref.name)).read_text()
    first = next(iter(data.values()))
    assert first["private_key"] not in text  # digests only, never data


def test_restore_into_fresh_cluster_every_secret_identical(
    seeded_source: Source, stored_backup: LocalStore, module_backup_key: BackupKey,
    scratch_cluster_factory: Callable[[], RaftCluster], tmp_path: Path,
) -> None:
    source, data = seeded_source
    target = scratch_cluster_factory()
    name = latest_backup(stored_backup).name
    report, _ = restore_backup(
        stored_backup, name, module_backup_key, client_of(target), source.unseal_keys,
        Secret(source.root_token), tmp_path,
    )
    assert report.canaries_checked == 4
    restored = read_all(target.address(0), source.root_token, sorted(data))
    mismatched = [path for path, value in data.items() if restored[path] != value]
    assert mismatched == []
    assert len(restored) == 4 * 1000


def test_drill_verifies_every_secret(seeded_source: Source, stored_backup: LocalStore,
                                     module_backup_key: BackupKey) -> None:
    source, data = seeded_source
    report = run_drill(stored_backup, module_backup_key, source.unseal_keys, Secret(source.root_token))
    assert report.ok
    assert report.secrets.checked == len(data) + 4
    assert report.secrets.mismatched == [] and report.secrets.missing == []
    assert set(report.timings) >= {"scratch_start", "fetch_verify_decrypt", "restore", "unseal", "verify_secrets"}


def test_drill_of_an_older_backup_logs_in_with_an_approle_inside_the_scratch_vault(
    seeded_source: Source, module_backup_key: BackupKey, tmp_path: Path,
) -> None:
    """The quarterly drill logs in AFTER the backup it drills was taken: such a token does not exist in the restored
    data and cannot read it; the backup AppRole (its secret id older than the backup) logs in inside the scratch
    Vault and proves the restore."""
    source, data = seeded_source
    with client_of(source) as client:
        if "approle/" not in ((client.read("sys/auth") or {}).get("data") or {}):
            client.write("sys/auth/approle", {"type": "approle"})
        role_id, secret_id = make_approle(client, "drill-verify", backup_policy())
        store = LocalStore(tmp_path / "backups")
        create_backup(client, store, module_backup_key)
    with VaultClient(VaultConfig(tuple(source.addresses), role_id=role_id, secret_id=secret_id),
                     manage_token=False) as later:
        later.login()  # minted after the backup, as the scheduled drill's fresh login is
        fresh_token = later.token
    with pytest.raises(ToolkitError, match=r"permission denied|403"):
        run_drill(store, module_backup_key, source.unseal_keys, VerifyLogin(token=fresh_token))
    report = run_drill(store, module_backup_key, source.unseal_keys, VerifyLogin(role_id=role_id, secret_id=secret_id))
    assert report.ok and report.canaries_checked == 4 and report.secrets.checked == len(data) + 4


def _copy(store: LocalStore, tmp_path: Path) -> tuple[LocalStore, str]:
    name = latest_backup(store).name
    copy = LocalStore(tmp_path / "copy")
    for obj in (blob_key(name), manifest_key(name)):
        copy.put_bytes(obj, store.get_bytes(obj))
    return copy, name


@pytest.mark.parametrize("offset", [0, 20, 40, 5000, -1])
def test_tampered_blob_refused(stored_backup: LocalStore, module_backup_key: BackupKey, tmp_path: Path,
                               offset: int, unreachable: VaultClient) -> None:
    store, name = _copy(stored_backup, tmp_path)
    blob = store.root / blob_key(name)
    raw = bytearray(blob.read_bytes())
    raw[offset] ^= 0x01
    blob.write_bytes(bytes(raw))
    with pytest.raises(ChecksumMismatch):
        restore_backup(store, name, module_backup_key, unreachable, ["k"], Secret("t"), tmp_path)


def test_tampered_manifest_refused(stored_backup: LocalStore, module_backup_key: BackupKey, tmp_path: Path,
                                   unreachable: VaultClient) -> None:
    store, name = _copy(stored_backup, tmp_path)
    path = store.root / manifest_key(name)
    path.write_text(path.read_text().replace('"threshold": 3', '"threshold": 2'))
    with pytest.raises(ManifestError):
        restore_backup(store, name, module_backup_key, unreachable, ["k"], Secret("t"), tmp_path)


def test_zero_byte_blob_refused(stored_backup: LocalStore, module_backup_key: BackupKey, tmp_path: Path,
                                unreachable: VaultClient) -> None:
    store, name = _copy(stored_backup, tmp_path)
    (store.root / blob_key(name)).write_bytes(b"")
    with pytest.raises(EmptyBackupError):
        restore_backup(store, name, module_backup_key, unreachable, ["k"], Secret("t"), tmp_path)


def test_wrong_key_refused(stored_backup: LocalStore, tmp_path: Path, unreachable: VaultClient) -> None:
    store, name = _copy(stored_backup, tmp_path)
    with pytest.raises((ManifestError, WrongKeyError)):
        restore_backup(store, name, BackupKey.generate(), unreachable, ["k"], Secret("t"), tmp_path)


def test_listing_ignores_incomplete_backups(stored_backup: LocalStore, tmp_path: Path) -> None:
    store, name = _copy(stored_backup, tmp_path)
    store.put_bytes("vault-20990101T000000Z.snap.enc", b"partial")
    assert [r.name for r in list_backups(store)] == [name]


def _manifest(store: LocalStore, name: str, key: BackupKey) -> Any:
    from vault.backup.restore import fetch_manifest

    return fetch_manifest(store, name, key)


def test_backup_of_a_vault_without_raft_says_why_before_writing_anything(openbao_dev: DevServer,
                                                                          backup_key: BackupKey,
                                                                          tmp_path: Path) -> None:
    vault = VaultClient(VaultConfig((openbao_dev.address,), token=Secret(openbao_dev.root_token)))
    store = LocalStore(tmp_path / "backups")
    with pytest.raises(SnapshotError, match=r"does not use integrated \(raft\) storage.*sandbox.up.*Nothing was"):
        create_backup(vault, store, backup_key)
    for mount in DEFAULT_MOUNTS:  # no canary was written into any mount
        assert vault.json("GET", f"{mount}/metadata/{canary_path(mount).split('/', 1)[-1]}", ok_404=True) is None
    assert list_backups(store) == []


def test_restore_task_as_an_operator_runs_it(seeded_source: Source, stored_backup: LocalStore,
                                             module_backup_key: BackupKey,
                                             scratch_cluster_factory: Callable[[], RaftCluster],
                                             tmp_path: Path) -> None:
    """`invoke vault.restore` (the runbook task) as a subprocess, settings from options and the environment."""
    source, data = seeded_source
    target = scratch_cluster_factory()
    key_file = tmp_path / "backup.key"
    key_file.write_text(module_backup_key.to_base64() + "\n")
    env = {"PATH": os.environ["PATH"], "HOME": os.environ["HOME"], "COLUMNS": "200",
           "VAULT_ADDR": source.address(0), "VAULT_TOKEN": source.root_token,
           "PM_RESTORE_TARGET_TOKEN": target.root_token, "PM_AUDIT_LOG": str(tmp_path / "audit.jsonl")}
    result = subprocess.run(
        [str(REPO / ".venv" / "bin" / "invoke"), "vault.restore", "--target", target.address(0),
         "--dest", str(stored_backup.root), "--key-file", str(key_file),
         "--unseal-keys-file", str(source.init_file)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "canaries" in result.stdout and "4 identical" in result.stdout
    first = sorted(data)[0]
    assert read_all(target.address(0), source.root_token, [first])[first] == data[first]
    events = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert [(e["event"], e["outcome"]) for e in events] == [("vault.restore", "ok")]
    assert source.root_token not in (tmp_path / "audit.jsonl").read_text()
