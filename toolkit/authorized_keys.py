"""OpenSSH ``authorized_keys`` as an exact set, and root's file converged over SSH.

Keys are compared by their base64 blob, so comments and options never make two lines differ in meaning.
Root's file lives under ``/root`` (root-owned, outside anything a tenant can write); the tenant's file is
written as the tenant user (``toolkit.tenant_files``), never by root through a path the tenant controls.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from toolkit.ssh import RemoteExecutor

ROOT_AUTHORIZED_KEYS = "/root/.ssh/authorized_keys"
_KEY_TYPES = ("ssh-", "ecdsa-", "sk-")


def key_blob(line: str) -> str:
    """The base64 blob of an OpenSSH public key line (options before the type are allowed); "" if none."""
    parts = line.split()
    for index, part in enumerate(parts[:-1]):
        if part.startswith(_KEY_TYPES):
            return parts[index + 1]
    return ""


def blobs(text: str) -> list[str]:
    """The key blobs of a file's lines, in order, comments and blank lines skipped."""
    found = (key_blob(line) for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#"))
    return [blob for blob in found if blob]


def render(keys: Iterable[str]) -> str:
    """One line per distinct key, in the given order."""
    seen: set[str] = set()
    lines: list[str] = []
    for key in keys:
        blob = key_blob(key)
        if blob and blob not in seen:
            seen.add(blob)
            lines.append(key.strip())
    return "".join(line + "\n" for line in lines)


def same_keys(text: str, keys: Sequence[str]) -> bool:
    return sorted(set(blobs(text))) == sorted({key_blob(k) for k in keys if key_blob(k)})


def read_root_keys(executor: RemoteExecutor) -> str:
    raw = executor.read_file_if_exists(ROOT_AUTHORIZED_KEYS)
    return raw.decode(errors="replace") if raw is not None else ""


def converge_root_keys(executor: RemoteExecutor, keys: Sequence[str]) -> bool:
    """Make root's authorized_keys hold exactly ``keys`` (atomic replace, 0600). True if it changed."""
    if same_keys(read_root_keys(executor), keys):
        return False
    executor.run(["install", "-d", "-m", "0700", "-o", "root", "-g", "root", "/root/.ssh"])
    executor.put_file(ROOT_AUTHORIZED_KEYS, render(keys).encode(), mode=0o600, owner="root", group="root")
    return True
