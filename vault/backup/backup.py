"""Taking a backup: canaries, inventory, snapshot, encrypt, self-verify, upload (manifest last), prune.

A backup is reported only after its blob has been decrypted again and both SHA-256s matched, and the stored
object's size equals the local one; any failure raises and leaves no manifest behind, so an incomplete or
corrupt backup is never listed as one.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from toolkit.clock import SYSTEM_CLOCK, Clock, Laps
from vault.backup import retention
from vault.backup.crypto import BackupKey, decrypt_stream, encrypt_file
from vault.backup.errors import BackupNotFound, ChecksumMismatch, StoreError
from vault.backup.inventory import DEFAULT_MOUNTS, Step, Tick, take_inventory, write_canaries
from vault.backup.manifest import (
    BLOB_SUFFIX,
    MANIFEST_SUFFIX,
    Manifest,
    SourceInfo,
    backup_name,
    blob_key,
    manifest_key,
    parse_name,
)
from vault.backup.snapshot import require_raft_storage, take_snapshot
from vault.backup.stores import BackupStore
from vault.client import VaultClient
from vault.errors import VaultError


@dataclass(frozen=True)
class BackupRef:
    name: str
    created: datetime


def list_backups(store: BackupStore) -> list[BackupRef]:
    """Complete backups (blob and manifest both present), oldest first."""
    names = set(store.list())
    refs = []
    for name in names:
        if not name.endswith(MANIFEST_SUFFIX):
            continue
        base = name[: -len(MANIFEST_SUFFIX)]
        created = parse_name(base)
        if created is not None and blob_key(base) in names:
            refs.append(BackupRef(base, created))
    return sorted(refs, key=lambda r: r.created)


def incomplete_backups(store: BackupStore) -> list[str]:
    """Blobs without a manifest (an interrupted run)."""
    names = set(store.list())
    return sorted(n[: -len(BLOB_SUFFIX)] for n in names
                  if n.endswith(BLOB_SUFFIX) and manifest_key(n[: -len(BLOB_SUFFIX)]) not in names)


def latest_backup(store: BackupStore) -> BackupRef:
    refs = list_backups(store)
    if not refs:
        raise BackupNotFound(f"no complete backup in {store.description}")
    return refs[-1]


def source_info(vault: VaultClient) -> SourceInfo:
    address = vault.active_node()
    seal = vault.json("GET", "sys/seal-status", address=address) or {}
    health = vault.json("GET", "sys/health", address=address) or {}
    try:
        audit = vault.json("GET", "sys/audit", address=address) or {}
        devices = sorted(k for k in audit.get("data", audit) if isinstance(k, str) and k.endswith("/"))
    except VaultError:  # the backup token may lack sudo on sys/audit: not needed for the backup itself
        devices = []
    return SourceInfo(
        addresses=list(vault.config.addresses), cluster_id=str(health.get("cluster_id", "")),
        cluster_name=str(health.get("cluster_name", "")), server_version=str(seal.get("version", "")),
        seal_type=str(seal.get("type", "shamir")), shares=int(seal.get("n", 0)), threshold=int(seal.get("t", 0)),
        audit_devices=devices,
    )


@dataclass
class BackupResult:
    manifest: Manifest
    destination: str
    timings: dict[str, float] = field(default_factory=dict)
    pruned: list[str] = field(default_factory=list)


def create_backup(vault: VaultClient, store: BackupStore, key: BackupKey, *,
                  mounts: Sequence[str] = DEFAULT_MOUNTS, canaries: bool = True, clock: Clock = SYSTEM_CLOCK,
                  workdir: Path | None = None, step: Step | None = None, tick: Tick | None = None) -> BackupResult:
    """Take, encrypt, verify and store one backup. Raises a ``BackupError`` on any failure."""
    say = step or (lambda _msg: None)
    created = clock.now()
    name = backup_name(created)
    laps = Laps()
    lap = laps.lap
    say("reading source cluster settings")
    require_raft_storage(vault)
    source = source_info(vault)
    canary_paths: list[str] = []
    if canaries:
        say("writing canary secrets")
        canary_paths = write_canaries(vault, mounts, name)
    say(f"recording secret checksums ({', '.join(mounts)})")
    inventory = take_inventory(vault, key, mounts, tick=tick)
    lap("inventory")
    with tempfile.TemporaryDirectory(prefix="pm-vault-backup-", dir=workdir) as tmp:
        snap, blob = Path(tmp) / "snapshot.gz", Path(tmp) / blob_key(name)
        say("taking raft snapshot")
        take_snapshot(vault, snap)
        lap("snapshot")
        say("encrypting (AES-256-GCM)")
        stats = encrypt_file(snap, blob, key)
        snap.unlink()
        lap("encrypt")
        say("verifying the encrypted blob")
        with blob.open("rb") as src:
            check = decrypt_stream(src, _NullSink(), key)
        if (check.plaintext_sha256, check.ciphertext_sha256) != (stats.plaintext_sha256, stats.ciphertext_sha256):
            raise ChecksumMismatch("the blob does not decrypt to the snapshot just taken")
        lap("verify")
        manifest = Manifest(
            name=name, created_at=created.isoformat(), source=source,
            plaintext_bytes=stats.plaintext_bytes, plaintext_sha256=stats.plaintext_sha256,
            ciphertext_bytes=stats.ciphertext_bytes, ciphertext_sha256=stats.ciphertext_sha256,
            chunk_size=_chunk_size(blob), key_id=key.key_id.hex(), secret_mounts=list(mounts),
            secrets=inventory.secrets, canaries=canary_paths,
        )
        say(f"uploading to {store.description}")
        store.put(manifest.blob, blob)
        stored = store.size(manifest.blob)
        if stored != stats.ciphertext_bytes:
            with contextlib.suppress(StoreError):
                store.delete(manifest.blob)
            raise StoreError(f"stored blob is {stored} bytes, expected {stats.ciphertext_bytes}")
        store.put_bytes(manifest_key(name), manifest.to_json(key))
        lap("upload")
    return BackupResult(manifest, store.description, laps.timings)


def prune(store: BackupStore, *, daily: int = retention.DAILY, monthly: int = retention.MONTHLY,
          dry_run: bool = False) -> list[str]:
    """Delete backups outside the retention policy (manifest first, so none is left half-listed)."""
    refs = list_backups(store)
    doomed = retention.to_delete([r.created for r in refs], daily, monthly)
    names = [r.name for r in refs if r.created in doomed]
    if not dry_run:
        for name in names:
            store.delete(manifest_key(name))
            store.delete(blob_key(name))
    return names


def _chunk_size(blob: Path) -> int:
    from vault.backup.crypto import read_header

    with blob.open("rb") as handle:
        return read_header(handle)[1]


class _NullSink:
    """A write-only stream that discards (decrypting only to check tags and the plaintext hash)."""

    def write(self, data: bytes) -> int:
        return len(data)
