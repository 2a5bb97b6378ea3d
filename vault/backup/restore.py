"""The restore runbook: fetch, verify both checksums, decrypt, restore into a (new) cluster, unseal with the
SOURCE cluster's keys, check the canaries.

Order of checks (each failure raises a ``BackupIntegrityError`` before anything touches the target):
manifest MAC -> blob size and ciphertext SHA-256 -> AES-GCM tags chunk by chunk -> plaintext SHA-256 -> gzip.

After the forced restore the target holds the source's data *and tokens*: its own root token is gone. The
canaries are therefore read with a credential of the source cluster (``verify``, ``vault.backup.verify_login``): an
AppRole that logs in inside the restored Vault, or a token that existed when the backup was taken.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from toolkit.clock import Laps
from toolkit.redact import REDACTOR, Secret
from vault.backup.crypto import BackupKey, decrypt_file, sha256_file
from vault.backup.errors import (
    BackupKeyError,
    CanaryMismatch,
    ChecksumMismatch,
    EmptyBackupError,
    ManifestError,
)
from vault.backup.inventory import Step, verify_secrets
from vault.backup.manifest import Manifest, manifest_key
from vault.backup.snapshot import looks_like_snapshot, restore_snapshot, unseal_after_restore
from vault.backup.stores import BackupStore
from vault.backup.verify_login import VerifyLogin, as_verify_login
from vault.client import VaultClient

UNSEAL_KEYS_ENV = "PM_SOURCE_UNSEAL_KEYS"
UNSEAL_KEYS_FILE_ENV = "PM_SOURCE_UNSEAL_KEYS_FILE"


@dataclass(frozen=True)
class VerifiedBackup:
    manifest: Manifest
    snapshot: Path
    """The decrypted snapshot (mode 0600, inside the caller's work directory)."""


def fetch_manifest(store: BackupStore, name: str, key: BackupKey) -> Manifest:
    manifest = Manifest.from_json(store.get_bytes(manifest_key(name)), key)
    if manifest.name != name:
        raise ManifestError(f"the manifest of {name} describes another backup ({manifest.name})")
    return manifest


def fetch_verified(store: BackupStore, name: str, key: BackupKey, workdir: Path) -> VerifiedBackup:
    """Download ``name`` into ``workdir`` and prove it intact; returns the decrypted snapshot."""
    manifest = fetch_manifest(store, name, key)
    blob = workdir / manifest.blob
    store.get(manifest.blob, blob)
    size, digest = sha256_file(blob)
    if size == 0:
        raise EmptyBackupError(f"the blob of {name} is empty (0 bytes)")
    if size != manifest.ciphertext_bytes or digest != manifest.ciphertext_sha256:
        raise ChecksumMismatch(
            f"the blob of {name} does not match its manifest (ciphertext: {size} bytes, sha256 {digest[:12]}..., "
            f"expected {manifest.ciphertext_bytes} bytes, {manifest.ciphertext_sha256[:12]}...)"
        )
    snapshot = workdir / "snapshot.gz"
    stats = decrypt_file(blob, snapshot, key)
    blob.unlink()
    if stats.plaintext_bytes != manifest.plaintext_bytes or stats.plaintext_sha256 != manifest.plaintext_sha256:
        snapshot.unlink(missing_ok=True)
        raise ChecksumMismatch(f"the decrypted snapshot of {name} does not match the plaintext SHA-256")
    looks_like_snapshot(snapshot)
    return VerifiedBackup(manifest, snapshot)


def load_unseal_keys(path: Path | str | None = None, env: Mapping[str, str] | None = None) -> list[str]:
    """The source cluster's unseal keys from a file (init JSON with ``keys_base64``/``keys``, a JSON list,
    or one key per line), else ``PM_SOURCE_UNSEAL_KEYS_FILE``, else ``PM_SOURCE_UNSEAL_KEYS`` (comma list)."""
    env = os.environ if env is None else env
    path = path or env.get(UNSEAL_KEYS_FILE_ENV)
    keys: list[str]
    if path:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise BackupKeyError(str(path), f"cannot read the unseal keys file ({exc.strerror})") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            data = [line.strip() for line in text.splitlines() if line.strip()]
        if isinstance(data, dict):
            data = data.get("keys_base64") or data.get("keys") or data.get("unseal_keys") or []
        keys = [str(k) for k in data] if isinstance(data, list) else []
    else:
        keys = [k.strip() for k in env.get(UNSEAL_KEYS_ENV, "").split(",") if k.strip()]
    if not keys:
        raise BackupKeyError(
            "unseal keys", f"none found: pass --unseal-keys-file or set {UNSEAL_KEYS_FILE_ENV}/{UNSEAL_KEYS_ENV} "
            "(the SOURCE cluster's keys: a restored cluster unseals only with them)",
        )
    REDACTOR.register(*keys)
    return keys


@dataclass
class RestoreReport:
    backup: str
    created_at: str
    target: str
    canaries_checked: int = 0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def total_seconds(self) -> float:
        return sum(self.timings.values())


def restore_backup(store: BackupStore, name: str, key: BackupKey, target: VaultClient,
                   unseal_keys: Sequence[str], verify: VerifyLogin | Secret, workdir: Path, *,
                   require_canaries: bool = True, step: Step | None = None) -> tuple[RestoreReport, Manifest]:
    """Restore backup ``name`` into the cluster behind ``target`` (authenticated with the target's own token).

    Raises ``BackupIntegrityError`` for a bad backup (before the target is contacted), ``RestoreError`` /
    ``CanaryMismatch`` for a restore that is not proven."""
    say = step or (lambda _msg: None)
    say(f"fetching and verifying {name} (manifest MAC, ciphertext SHA-256, GCM tags, plaintext SHA-256)")
    started = time.monotonic()
    verified = fetch_verified(store, name, key, workdir)
    fetched = time.monotonic() - started
    report = restore_verified(verified, key, target, unseal_keys, verify,
                              require_canaries=require_canaries, step=step)
    report.timings = {"fetch_verify_decrypt": fetched, **report.timings}
    return report, verified.manifest


def restore_verified(verified: VerifiedBackup, key: BackupKey, target: VaultClient,
                     unseal_keys: Sequence[str], verify: VerifyLogin | Secret, *, require_canaries: bool = True,
                     step: Step | None = None) -> RestoreReport:
    """Restore an already verified snapshot: snapshot-force, unseal with the source keys, check canaries.
    Deletes the decrypted snapshot once uploaded."""
    say = step or (lambda _msg: None)
    manifest = verified.manifest
    laps = Laps()
    lap = laps.lap
    canaries = {p: manifest.secrets[p] for p in manifest.canaries if p in manifest.secrets}
    if len(canaries) != len(manifest.canaries) or (require_canaries and not canaries):
        raise CanaryMismatch(f"{manifest.name} records no usable canary secrets: the restore cannot be proven")
    say(f"restoring the snapshot into {', '.join(target.config.addresses)} (snapshot-force)")
    try:
        restore_snapshot(target, verified.snapshot, force=True)
    finally:
        verified.snapshot.unlink(missing_ok=True)
    lap("restore")
    say("unsealing with the source cluster's keys")
    threshold = manifest.source.threshold or len(unseal_keys)
    active = unseal_after_restore(target, unseal_keys, threshold)
    lap("unseal")
    report = RestoreReport(manifest.name, manifest.created_at, active, timings=laps.timings)
    if canaries:
        say(f"checking {len(canaries)} canary secrets")
        with target.with_token(as_verify_login(verify).token_on(target)) as reader:
            result = verify_secrets(reader, key, canaries)
        if not result.ok:
            raise CanaryMismatch(
                f"canaries differ after restoring {manifest.name}: missing {result.missing}, "
                f"mismatched {result.mismatched}"
            )
        report.canaries_checked = result.checked
        lap("canaries")
    return report
