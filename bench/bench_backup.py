"""Benchmark: Vault backup and restore time for 1,000 and 10,000 tenants' secrets (real OpenBao raft).

    .venv/bin/python bench/bench_backup.py [tenant counts...]      (default: 1000 10000)

Each tenant has 4 secrets (vps admin_ssh, smtp admin, one API key, one DKIM key). Prints numbers only;
every cluster started here is stopped before exit.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from tests.fixtures.backup import client_of, enable_kv_mounts, seed_tenants, start_raft
from toolkit.redact import Secret
from vault.backup import BackupKey, LocalStore, create_backup, restore_backup
from vault.backup.drill import ScratchCluster
from vault.backup.inventory import verify_secrets


def run(tenants: int, root: Path) -> dict[str, float]:
    key = BackupKey.generate()
    store = LocalStore(root / "backups")
    source = start_raft(root / "source")
    target = None
    try:
        enable_kv_mounts(source)
        started = time.perf_counter()
        data = seed_tenants(source, tenants)
        seed = time.perf_counter() - started

        started = time.perf_counter()
        result = create_backup(client_of(source), store, key)
        backup = time.perf_counter() - started

        target = start_raft(root / "target", ScratchCluster)
        started = time.perf_counter()
        report, manifest = restore_backup(store, result.manifest.name, key, client_of(target),
                                          source.unseal_keys, Secret(source.root_token), root)
        restore = time.perf_counter() - started

        started = time.perf_counter()
        check = verify_secrets(client_of(target).with_token(source.root_token), key, manifest.secrets)
        verify = time.perf_counter() - started
        assert check.ok and check.checked == len(data) + len(manifest.canaries)
        return {
            "secrets": float(len(data)), "seed_s": seed, "backup_s": backup,
            **{f"  backup.{k}_s": v for k, v in result.timings.items()},
            "snapshot_MB": result.manifest.plaintext_bytes / 1e6, "manifest_MB": len(manifest.to_json(key)) / 1e6,
            "restore_s": restore, **{f"  restore.{k}_s": v for k, v in report.timings.items()},
            "verify_all_s": verify,
        }
    finally:
        if target is not None:
            target.stop()
        source.stop()


def main(argv: list[str]) -> None:
    counts = [int(a) for a in argv] or [1000, 10000]
    results = {}
    for count in counts:
        with tempfile.TemporaryDirectory(prefix="pm-bench-backup-") as tmp:
            results[count] = run(count, Path(tmp))
    table = Table(title="Vault backup/restore (OpenBao raft, single node, loopback)")
    table.add_column("metric")
    for count in counts:
        table.add_column(f"{count:,} tenants", justify="right")
    for metric in results[counts[0]]:
        table.add_row(metric, *(f"{results[c][metric]:,.2f}" for c in counts))
    Console().print(table)


if __name__ == "__main__":
    main(sys.argv[1:])
