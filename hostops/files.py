"""Desired files and directories on a host, and converging them: compare (sha256, mode, owner), change what differs.

Content is uploaded only when its SHA-256 differs; a wrong mode or owner alone is fixed with chmod/chown.
``DesiredFile`` never shows its content in repr (it may be a secret such as ``mailu.env`` or a DKIM key).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from toolkit.ssh import FileStat, RemoteExecutor, quote_all, sha256_hex


@dataclass(frozen=True)
class DesiredFile:
    path: str
    content: bytes = field(repr=False)
    mode: int
    owner: str = "root"
    group: str = "root"
    secret: bool = False

    @property
    def sha256(self) -> str:
        return sha256_hex(self.content)

    def __repr__(self) -> str:
        return (f"DesiredFile({self.path!r}, mode={self.mode:o}, owner={self.owner}:{self.group}, "
                f"sha256={self.sha256[:12]}{', secret' if self.secret else ''})")


@dataclass(frozen=True)
class DesiredDir:
    """A directory; ``enforce=False`` only creates it (Mailu's containers chown their data volumes)."""

    path: str
    mode: int
    owner: str = "root"
    group: str = "root"
    enforce: bool = True


@dataclass(frozen=True)
class FileChange:
    path: str
    content_changed: bool
    attrs_changed: bool
    existed: bool


def _attrs_differ(stat: FileStat, mode: int, owner: str, group: str) -> bool:
    return stat.mode != mode or not stat.owned_by(owner, group)


def sync_dirs(executor: RemoteExecutor, dirs: Sequence[DesiredDir]) -> list[str]:
    """Create missing directories and fix mode/owner. Returns the paths changed."""
    stats = executor.file_stats([d.path for d in dirs])
    changed: list[str] = []
    commands: list[str] = []
    for wanted in dirs:
        stat = stats[wanted.path]
        if stat is None or stat.kind != "dir":
            if stat is not None:
                commands.append(quote_all(["rm", "-f", "--", wanted.path]))
            commands.append(quote_all(["install", "-d", "-m", f"{wanted.mode:o}", "-o", wanted.owner,
                                       "-g", wanted.group, "--", wanted.path]))
        elif wanted.enforce and _attrs_differ(stat, wanted.mode, wanted.owner, wanted.group):
            commands.append(quote_all(["chown", f"{wanted.owner}:{wanted.group}", "--", wanted.path]))
            commands.append(quote_all(["chmod", f"{wanted.mode:o}", "--", wanted.path]))
        else:
            continue
        changed.append(wanted.path)
    if commands:
        executor.run("set -e; " + "; ".join(commands))
    return changed


def sync_files(executor: RemoteExecutor, files: Sequence[DesiredFile]) -> list[FileChange]:
    """Converge files; returns one ``FileChange`` per file that differed (unchanged files are left out)."""
    stats = executor.file_stats([f.path for f in files])
    changes: list[FileChange] = []
    attr_commands: list[str] = []
    for wanted in files:
        if wanted.secret:
            executor.register_secret(wanted.content)
        stat = stats[wanted.path]
        if stat is None or stat.kind != "file" or stat.sha256 != wanted.sha256:
            executor.put_file(wanted.path, wanted.content, mode=wanted.mode, owner=wanted.owner, group=wanted.group)
            changes.append(FileChange(wanted.path, True, True, existed=stat is not None))
        elif _attrs_differ(stat, wanted.mode, wanted.owner, wanted.group):
            attr_commands.append(quote_all(["chown", f"{wanted.owner}:{wanted.group}", "--", wanted.path]))
            attr_commands.append(quote_all(["chmod", f"{wanted.mode:o}", "--", wanted.path]))
            changes.append(FileChange(wanted.path, False, True, existed=True))
    if attr_commands:
        executor.run("set -e; " + "; ".join(attr_commands))
    return changes


def files_digest(files: Sequence[DesiredFile]) -> str:
    """One SHA-256 over every managed file's path, content hash and mode (safe to publish)."""
    digest = hashlib.sha256()
    for f in sorted(files, key=lambda item: item.path):
        digest.update(f"{f.path}\0{f.sha256}\0{f.mode:o}\n".encode())
    return digest.hexdigest()
