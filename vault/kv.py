"""KV v2 operations on typed paths, with check-and-set on every write.

A write retried after a lost reply (leader died mid-request) can hit a CAS mismatch although it applied:
``write`` resolves that by reading the secret back and accepting it when it holds exactly our data at the
version we aimed for. So a retried write never applies twice and never reports a false failure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vault.client import VaultClient
from vault.errors import CasConflict, SecretNotFound
from vault.paths import SecretPath


@dataclass(frozen=True)
class KvSecret:
    path: SecretPath
    data: dict[str, Any]
    version: int
    created_time: str


@dataclass(frozen=True)
class KvVersionInfo:
    version: int
    created_time: str
    deletion_time: str
    destroyed: bool


def read(client: VaultClient, path: SecretPath, version: int | None = None) -> KvSecret:
    """The current (or given) version. Raises ``SecretNotFound`` if absent, deleted or destroyed."""
    reply = client.call(
        lambda c: c.secrets.kv.v2.read_secret_version(
            path=path.path, version=version, mount_point=path.mount, raise_on_deleted_version=True
        ),
        what=f"read {path}" + (f" version {version}" if version else ""),
    )
    body = reply["data"]
    meta = body.get("metadata") or {}
    if body.get("data") is None:
        raise SecretNotFound(f"read {path}: version {meta.get('version')} was deleted or destroyed")
    return KvSecret(path, dict(body["data"]), int(meta["version"]), str(meta.get("created_time", "")))


def current_version(client: VaultClient, path: SecretPath) -> int:
    """The current version number, 0 when the secret has never been written."""
    try:
        reply = client.call(
            lambda c: c.secrets.kv.v2.read_secret_metadata(path=path.path, mount_point=path.mount),
            what=f"read metadata of {path}",
        )
    except SecretNotFound:
        return 0
    return int(reply["data"].get("current_version") or 0)


def versions(client: VaultClient, path: SecretPath) -> list[KvVersionInfo]:
    """Every version Vault still holds, oldest first (the rotation history)."""
    reply = client.call(
        lambda c: c.secrets.kv.v2.read_secret_metadata(path=path.path, mount_point=path.mount),
        what=f"read metadata of {path}",
    )
    found = reply["data"].get("versions") or {}
    return [
        KvVersionInfo(int(n), str(v.get("created_time", "")), str(v.get("deletion_time", "")),
                      bool(v.get("destroyed")))
        for n, v in sorted(found.items(), key=lambda item: int(item[0]))
    ]


def write(client: VaultClient, path: SecretPath, data: Mapping[str, Any], *, cas: int) -> int:
    """Write ``data`` as the version after ``cas`` (0 = create only). Returns the new version.

    Raises ``CasConflict`` when someone else wrote in between."""
    payload = dict(data)
    try:
        reply = client.call(
            lambda c: c.secrets.kv.v2.create_or_update_secret(
                path=path.path, secret=payload, cas=cas, mount_point=path.mount
            ),
            what=f"write {path}",
        )
    except CasConflict:
        # Did an earlier attempt of this very call apply before its reply was lost?
        try:
            now = read(client, path)
        except SecretNotFound:
            raise CasConflict(f"write {path}: check-and-set failed and the secret is gone") from None
        if now.version == cas + 1 and now.data == payload:
            return now.version
        raise
    return int(reply["data"]["version"])


def write_next(client: VaultClient, path: SecretPath, data: Mapping[str, Any]) -> int:
    """Write a new version on top of whatever is current (create or rotate), still with CAS."""
    return write(client, path, data, cas=current_version(client, path))


def list_keys(client: VaultClient, mount: str, folder: str) -> list[str]:
    """Names under ``mount/folder/`` (sub-folders end in ``/``); empty if the folder does not exist."""
    try:
        reply = client.call(
            lambda c: c.secrets.kv.v2.list_secrets(path=folder, mount_point=mount),
            what=f"list {mount}/{folder}/",
        )
    except SecretNotFound:
        return []
    return [str(k) for k in reply["data"].get("keys", [])]


def destroy_versions(client: VaultClient, path: SecretPath, version_numbers: list[int]) -> None:
    """Permanently destroy versions (admin only: the system policy refuses this)."""
    client.call(
        lambda c: c.secrets.kv.v2.destroy_secret_versions(
            path=path.path, versions=version_numbers, mount_point=path.mount
        ),
        what=f"destroy versions {version_numbers} of {path}",
    )


def purge(client: VaultClient, path: SecretPath) -> None:
    """Delete the metadata and every version (admin only). Idempotent."""
    client.call(
        lambda c: c.secrets.kv.v2.delete_metadata_and_all_versions(path=path.path, mount_point=path.mount),
        what=f"purge {path}",
    )
