"""Vault backup and restore: encrypted raft snapshots, retention, freshness, restore runbook, drill.

They read Vault through ``vault.client.VaultClient`` (its one-node ``request``/``json`` for the snapshot stream and
the walks). Modules: ``crypto`` (AES-256-GCM blob format and key), ``manifest`` (JSON manifest + naming), ``stores``
(local directory / S3), ``snapshot`` (raft snapshot API, unseal), ``inventory`` (secret checksums, canaries),
``backup`` (take/list/prune), ``restore`` (runbook), ``drill`` (scratch restore + full verification),
``retention`` and ``freshness`` (pure policies).
"""

from __future__ import annotations

from vault.backup.backup import BackupRef, BackupResult, create_backup, latest_backup, list_backups, prune
from vault.backup.crypto import BackupKey, decrypt_file, encrypt_file
from vault.backup.errors import (
    BackupError,
    BackupIntegrityError,
    BackupKeyError,
    BackupNotFound,
    CanaryMismatch,
    ChecksumMismatch,
    DecryptionError,
    EmptyBackupError,
    ManifestError,
    RestoreError,
    SnapshotError,
    StoreError,
    WrongKeyError,
)
from vault.backup.freshness import Freshness, FreshnessReport, assess
from vault.backup.manifest import Manifest
from vault.backup.restore import RestoreReport, load_unseal_keys, restore_backup
from vault.backup.stores import BackupStore, LocalStore, S3Store, open_store

__all__ = [
    "BackupError", "BackupIntegrityError", "BackupKey", "BackupKeyError", "BackupNotFound", "BackupRef",
    "BackupResult", "BackupStore", "CanaryMismatch", "ChecksumMismatch", "DecryptionError", "EmptyBackupError",
    "Freshness", "FreshnessReport", "LocalStore", "Manifest", "ManifestError", "RestoreError", "RestoreReport",
    "S3Store", "SnapshotError", "StoreError", "WrongKeyError", "assess",
    "create_backup", "decrypt_file", "encrypt_file", "latest_backup", "list_backups", "load_unseal_keys",
    "open_store", "prune", "restore_backup",
]
