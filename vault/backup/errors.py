"""Errors of the backup layer. Every failure that means "this backup cannot be trusted" is a
``BackupIntegrityError``: callers must never turn one into a success report."""

from __future__ import annotations

from toolkit.errors import ConfigError, RemoteError, ToolkitError


class BackupError(ToolkitError):
    """Base of every error raised by ``vault.backup``."""


class BackupKeyError(BackupError, ConfigError):
    """The backup encryption key is missing or malformed (never shows the key itself)."""


class BackupNotFound(BackupError):
    """The named backup (or its manifest) is not in the store, or the store holds no backup at all."""


class StoreError(BackupError, RemoteError):
    """The destination (local directory or S3) refused or failed an operation."""


class SnapshotError(BackupError, RemoteError):
    """Vault refused or failed to produce a raft snapshot, or the snapshot is not one. (Other Vault calls raise
    ``vault.errors`` exceptions, as everywhere else.)"""


class BackupIntegrityError(BackupError):
    """The backup is unusable: empty, truncated, tampered with, or encrypted with another key."""


class EmptyBackupError(BackupIntegrityError):
    """A 0-byte snapshot, blob or plaintext: refused, never stored or restored."""


class ChecksumMismatch(BackupIntegrityError):
    """A SHA-256 recorded in the manifest does not match the bytes (blob or decrypted snapshot)."""


class ManifestError(BackupIntegrityError):
    """The manifest is unreadable, has the wrong format, or its MAC does not verify (tampered)."""


class DecryptionError(BackupIntegrityError):
    """The blob header is wrong or an AES-GCM tag does not verify (tampered, truncated or wrong key)."""


class WrongKeyError(DecryptionError):
    """The blob was encrypted with a different backup key (the key ids differ)."""


class RestoreError(BackupError):
    """The restore target did not accept the snapshot, or did not come back unsealed and active."""


class CanaryMismatch(RestoreError):
    """A canary secret is missing or differs after a restore: the restore is not proven."""
