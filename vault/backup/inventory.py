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
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

from vault.backup.crypto import BackupKey
from vault.bulk import BulkReader
from vault.client import VaultClient
from vault.errors import VaultError, VaultUnavailable

DEFAULT_MOUNTS: tuple[str, ...] = ("vps", "smtp", "api_keys", "dkim")
CANARY_TENANT = "canary"
CANARY_NAME = "restore_canary"
WORKERS = 8
CHUNK = 2000
"""Reads in flight (futures and their results) at most: memory stays flat however many secrets there are."""
T = TypeVar("T")
R = TypeVar("R")

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
    """Every secret path in a KV v2 mount: one recursive SCAN where the server offers it (OpenBao 2.2+, and the
    token may ``scan``), else folders listed breadth-first, in parallel (one LIST per folder: 10,000 tenants'
    folders are 40,000 LISTs over the four mounts)."""
    with BulkReader(vault, address) as reader:
        try:
            body = reader.get_json(f"{mount}/metadata/", {"scan": "true"})
        except VaultUnavailable:
            raise
        except VaultError:  # no SCAN here (HashiCorp Vault, an older OpenBao) or not allowed: list folder by folder
            return _list_folders(reader, mount, workers)
        return sorted(str(k) for k in (body or {}).get("data", {}).get("keys", []) if not str(k).endswith("/"))


def _list_folders(reader: BulkReader, mount: str, workers: int) -> list[str]:
    found: list[str] = []
    folders = [""]
    with ThreadPoolExecutor(workers) as pool:
        while folders:
            def keys(folder: str) -> tuple[str, list[str]]:
                body = reader.get_json(f"{mount}/metadata/{_q(folder)}", {"list": "true"})
                return folder, list((body or {}).get("data", {}).get("keys", []))

            next_folders: list[str] = []
            for folder, names in pool.map(keys, folders):
                for name in names:
                    (next_folders if name.endswith("/") else found).append(folder + name)
            folders = next_folders
    return sorted(found)


def _bounded_map(pool: ThreadPoolExecutor, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[R]:
    """``pool.map`` in chunks of ``CHUNK``: at most that many futures and results in memory at once."""
    for start in range(0, len(items), CHUNK):
        yield from pool.map(fn, items[start:start + CHUNK])


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

    with BulkReader(vault, address) as reader, ThreadPoolExecutor(workers) as pool:
        def read(item: tuple[str, str]) -> tuple[str, tuple[int, str] | None]:
            mount, path = item
            body = reader.get_json(f"{mount}/data/{_q(path)}")
            if not body or not body.get("data") or body["data"].get("data") is None:
                return f"{mount}/{path}", None
            version = int(body["data"]["metadata"]["version"])
            return f"{mount}/{path}", (version, key.digest(canonical(body["data"]["data"])))

        for logical, entry in _bounded_map(pool, read, paths):
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

    with BulkReader(vault, address) as reader, ThreadPoolExecutor(workers) as pool:
        def check(item: tuple[str, tuple[int, str]]) -> tuple[str, str]:
            logical, (version, digest) = item
            mount, _, path = logical.partition("/")
            body = reader.get_json(f"{mount}/data/{_q(path)}", {"version": str(version)})
            data = (body or {}).get("data") or {}
            if data.get("data") is None:
                return logical, "missing"
            same = secrets.compare_digest(key.digest(canonical(data["data"])), digest)
            return logical, "ok" if same else "mismatch"

        for logical, outcome in _bounded_map(pool, check, sorted(expected.items())):
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
