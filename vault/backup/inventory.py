"""The secret inventory recorded at backup time and checked after a restore.

For every secret of the KV v2 mounts (``vps``, ``smtp``, ``api_keys``, ``dkim``) the inventory holds its
current version and a keyed SHA-256 (HMAC, see ``BackupKey.digest``) of that version's data in canonical JSON
-- never the data. It is taken just *before* the snapshot, and verification reads exactly the recorded
version, so secrets written between the walk and the snapshot cannot cause false mismatches.

Canaries: before each backup a canary secret ``<mount>/canary/restore_canary`` (random nonce, backup name) is
written into every mount, so a restore proves each mount came back with this backup's data.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from vault.backup.crypto import BackupKey
from vault.client import VaultClient

DEFAULT_MOUNTS: tuple[str, ...] = ("vps", "smtp", "api_keys", "dkim")
CANARY_TENANT = "canary"
CANARY_NAME = "restore_canary"
WORKERS = 8

Tick = Callable[[int], None]
"""Progress: called with how many secrets were just processed."""
Step = Callable[[str], None]
"""Progress: called with a description of the step starting."""


def canonical(data: Mapping[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def canary_path(mount: str) -> str:
    return f"{mount}/{CANARY_TENANT}/{CANARY_NAME}"


def write_canaries(vault: VaultClient, mounts: Sequence[str], backup: str) -> list[str]:
    """Write a fresh canary into every mount; returns their ``mount/path``s."""
    address = vault.active_node()
    written = []
    for mount in mounts:
        data = {"backup": backup, "nonce": secrets.token_hex(16)}
        vault.json("POST", f"{mount}/data/{CANARY_TENANT}/{CANARY_NAME}", address=address, json={"data": data})
        written.append(canary_path(mount))
    return written


def _q(path: str) -> str:
    return quote(path, safe="/")


def list_secrets(vault: VaultClient, mount: str, address: str, workers: int = WORKERS) -> list[str]:
    """Every secret path in a KV v2 mount (folders listed breadth-first, in parallel)."""
    found: list[str] = []
    folders = [""]
    with ThreadPoolExecutor(workers) as pool:
        while folders:
            def keys(folder: str) -> tuple[str, list[str]]:
                body = vault.json("GET", f"{mount}/metadata/{_q(folder)}", address=address,
                                     params={"list": "true"}, ok_404=True)
                return folder, list((body or {}).get("data", {}).get("keys", []))

            next_folders: list[str] = []
            for folder, names in pool.map(keys, folders):
                for name in names:
                    (next_folders if name.endswith("/") else found).append(folder + name)
            folders = next_folders
    return sorted(found)


@dataclass
class Inventory:
    secrets: dict[str, tuple[int, str]] = field(default_factory=dict)
    skipped_deleted: int = 0


def take_inventory(vault: VaultClient, key: BackupKey, mounts: Iterable[str] = DEFAULT_MOUNTS,
                   *, workers: int = WORKERS, tick: Tick | None = None) -> Inventory:
    """Version + keyed digest of every live secret (a secret whose latest version is deleted is skipped)."""
    address = vault.active_node()
    paths = [(mount, p) for mount in mounts for p in list_secrets(vault, mount, address, workers)]
    inventory = Inventory()

    def read(item: tuple[str, str]) -> tuple[str, tuple[int, str] | None]:
        mount, path = item
        body = vault.json("GET", f"{mount}/data/{_q(path)}", address=address, ok_404=True)
        if not body or not body.get("data") or body["data"].get("data") is None:
            return f"{mount}/{path}", None
        version = int(body["data"]["metadata"]["version"])
        return f"{mount}/{path}", (version, key.digest(canonical(body["data"]["data"])))

    with ThreadPoolExecutor(workers) as pool:
        for logical, entry in pool.map(read, paths):
            if entry is None:
                inventory.skipped_deleted += 1
            else:
                inventory.secrets[logical] = entry
            if tick:
                tick(1)
    return inventory


@dataclass
class VerifyResult:
    checked: int = 0
    matched: int = 0
    mismatched: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.checked > 0 and self.matched == self.checked and not self.mismatched and not self.missing


def verify_secrets(vault: VaultClient, key: BackupKey, expected: Mapping[str, tuple[int, str]],
                   *, workers: int = WORKERS, tick: Tick | None = None) -> VerifyResult:
    """Read each recorded secret at its recorded version and compare digests (paths only in the result)."""
    address = vault.active_node()
    result = VerifyResult()

    def check(item: tuple[str, tuple[int, str]]) -> tuple[str, str]:
        logical, (version, digest) = item
        mount, _, path = logical.partition("/")
        body = vault.json("GET", f"{mount}/data/{_q(path)}", address=address,
                             params={"version": str(version)}, ok_404=True)
        data = (body or {}).get("data") or {}
        if data.get("data") is None:
            return logical, "missing"
        same = secrets.compare_digest(key.digest(canonical(data["data"])), digest)
        return logical, "ok" if same else "mismatch"

    with ThreadPoolExecutor(workers) as pool:
        for logical, outcome in pool.map(check, sorted(expected.items())):
            result.checked += 1
            if outcome == "ok":
                result.matched += 1
            elif outcome == "missing":
                result.missing.append(logical)
            else:
                result.mismatched.append(logical)
            if tick:
                tick(1)
    return result
