"""Raft snapshots over the HTTP API: take (``GET sys/storage/raft/snapshot``), restore
(``POST sys/storage/raft/snapshot-force`` into a different cluster), and unseal afterwards.

OpenBao facts this relies on (measured on 2.7.2):
- a snapshot is a gzip stream; a non-force restore into another cluster is refused ("different set of unseal
  keys"), the force variant is accepted and the node must then be unsealed with the **source** cluster's keys;
- after unsealing, the node takes ~5-7 s to become active (it waits out the source's HA lock);
- a file audit device declared in the target's config under the **same name** as one in the snapshot but with
  a different ``file_path`` makes the restored node refuse to finish unsealing: declare it identically, or
  under another name (the restored device is then disabled in favour of the configured one).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Sequence
from pathlib import Path

import requests

from toolkit.redact import REDACTOR
from toolkit.wait import wait_for
from vault.backup.errors import EmptyBackupError, RestoreError, SnapshotError
from vault.client import VaultClient
from vault.errors import VaultError, VaultUnavailable

GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1024 * 1024


def looks_like_snapshot(path: Path) -> None:
    """Refuse an empty file or one that is not a gzip stream (e.g. an error page saved by mistake)."""
    size = path.stat().st_size
    if size == 0:
        raise EmptyBackupError(f"the snapshot {path.name} is empty (0 bytes)")
    with path.open("rb") as handle:
        if handle.read(2) != GZIP_MAGIC:
            raise SnapshotError(f"{path.name} is not a raft snapshot (not a gzip stream)")


def require_raft_storage(vault: VaultClient) -> str:
    """The active node's address, once it is known to keep its data in integrated (raft) storage: snapshots,
    backups and restores need it. Checked before a backup writes anything (its canaries)."""
    address = vault.active_node()
    if vault.json("GET", "sys/storage/raft/configuration", address=address, ok_404=True) is None:
        raise SnapshotError(
            f"Vault at {address} does not use integrated (raft) storage, so it cannot take snapshots (a dev-mode "
            "Vault keeps everything in memory). Back up a raft cluster; in the sandbox: `invoke sandbox.down "
            "--purge && invoke sandbox.up` (raft is the default). Nothing was written")
    return address


def take_snapshot(vault: VaultClient, dest: Path, timeout: float = 600.0) -> int:
    """Stream a raft snapshot of the cluster behind ``vault`` into ``dest`` (mode 0600); returns its size."""
    address = vault.active_node()
    where = f"taking a raft snapshot from {address}"
    try:
        reply = vault.request("GET", "sys/storage/raft/snapshot", address=address, stream=True,
                              timeout=(vault.config.timeout, timeout))
        assert reply is not None
        with reply:
            if reply.status_code != 200:
                raise SnapshotError(f"{where}: HTTP {reply.status_code}")
            fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out:
                for block in reply.iter_content(_CHUNK):
                    out.write(block)
    except VaultError as exc:
        raise SnapshotError(f"{where}: {exc}") from None
    except requests.RequestException as exc:
        raise SnapshotError(f"{where}: {type(exc).__name__}") from None
    looks_like_snapshot(dest)
    return dest.stat().st_size


def restore_snapshot(target: VaultClient, source: Path, *, force: bool = True, timeout: float = 600.0) -> str:
    """Upload ``source`` into the target cluster's active node; returns that node's address.

    ``force=True`` is required when the snapshot comes from another cluster (other unseal keys)."""
    looks_like_snapshot(source)
    address = target.active_node()
    path = "snapshot-force" if force else "snapshot"
    try:
        with source.open("rb") as body:
            reply = target.request("POST", f"sys/storage/raft/{path}", address=address, data=body,
                                   timeout=(target.config.timeout, timeout))
    except VaultUnavailable as exc:
        raise RestoreError(f"uploading the snapshot to {address}: {exc}") from None
    except VaultError as exc:
        raise RestoreError(f"{address} refused the snapshot: {exc}") from None
    assert reply is not None
    reply.close()
    return address


def unseal(address: str, keys: Sequence[str], threshold: int, verify: bool | str = True) -> None:
    """Submit ``threshold`` unseal keys to one node (no-op if it is already unsealed)."""
    REDACTOR.register(*keys)
    if len(keys) < threshold:
        raise RestoreError(f"{len(keys)} unseal keys given, the source cluster needs {threshold}")
    with contextlib.suppress(requests.RequestException):
        requests.put(f"{address}/v1/sys/unseal", json={"reset": True}, timeout=10, verify=verify)
    for key in keys[:threshold]:
        try:
            reply = requests.put(f"{address}/v1/sys/unseal", json={"key": key}, timeout=10, verify=verify)
        except requests.RequestException as exc:
            raise RestoreError(f"unsealing {address}: {type(exc).__name__}") from None
        if reply.status_code != 200:
            raise RestoreError(
                f"{address} rejected an unseal key (HTTP {reply.status_code}): these must be the SOURCE "
                "cluster's unseal keys, not the target's"
            )
        if not reply.json().get("sealed", True):
            return
    raise RestoreError(f"{address} is still sealed after {threshold} keys: they are not the source cluster's keys")


def unseal_after_restore(target: VaultClient, keys: Sequence[str], threshold: int,
                         timeout: float = 120.0, grace: float = 15.0) -> str:
    """Wait for the restored nodes to seal (they do so a moment after a forced restore), unseal each with
    the source keys, then wait for an active node. A node still active after ``grace`` seconds never
    needed it (e.g. a restore onto the cluster that took the snapshot)."""
    started = time.monotonic()
    deadline = started + timeout
    verify = target.config.verify
    pending = set(target.config.addresses)

    def unseal_the_sealed() -> bool:
        for address in sorted(pending):
            state = target.health(address)
            if not state.reachable:
                continue
            if state.sealed or _sealed_by_seal_status(address, verify):
                unseal(address, keys, threshold, verify)
                pending.discard(address)
            elif state.active and time.monotonic() - started > grace:
                pending.discard(address)
        return not pending

    wait_for(unseal_the_sealed, what="the restored nodes to seal for unsealing", timeout=timeout,
             fail=lambda _timeout: RestoreError(
                 f"nodes {sorted(pending)} did not come back for unsealing after the restore"))
    try:
        return target.active_node(wait=max(deadline - time.monotonic(), 5.0))
    except VaultUnavailable:
        raise RestoreError(
            "the restored cluster did not become active after unsealing. Check the server log: a file audit "
            "device declared under the same name as the source's but with another file_path blocks it"
        ) from None


def _sealed_by_seal_status(address: str, verify: bool | str) -> bool:
    try:
        return bool(requests.get(f"{address}/v1/sys/seal-status", timeout=2, verify=verify).json().get("sealed"))
    except (requests.RequestException, ValueError):
        return False
