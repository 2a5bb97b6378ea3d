"""An sshd drop-in (``/etc/ssh/sshd_config.d/``): written only when it differs, checked with ``sshd -t`` before
sshd reloads, and the previous state put back when sshd refuses it (a broken sshd config locks everyone out)."""

from __future__ import annotations

from collections.abc import Sequence

from hostops.files import DesiredDir, DesiredFile, sync_dirs, sync_files
from hostops.services import Change
from toolkit.errors import ToolkitError
from toolkit.ssh import RemoteExecutor


class SshdConfigRefused(ToolkitError):
    """``sshd -t`` rejected the drop-in; the previous state was restored."""


def apply_dropin(executor: RemoteExecutor, files: Sequence[DesiredFile], service: str = "ssh") -> Change:
    """Converge the drop-in ``files`` (the first one is checked and rolled back); reload ``service`` on change."""
    path = files[0].path
    sync_dirs(executor, [DesiredDir(path.rsplit("/", 1)[0], 0o755)])
    previous = executor.read_file_if_exists(path)
    changes = sync_files(executor, files)
    detail = ", ".join(f"{c.path} ({'content' if c.content_changed else 'mode/owner'})" for c in changes)
    if not any(c.content_changed for c in changes):
        return Change(bool(changes), detail)
    check = executor.run(["sshd", "-t"], check=False)
    if not check.ok:
        if previous is None:
            executor.run(["rm", "-f", "--", path])
        else:
            executor.put_file(path, previous, mode=0o644)
        raise SshdConfigRefused(f"sshd -t rejected the drop-in, previous state restored: {check.stderr}")
    executor.run(["systemctl", "reload", service])
    return Change(True, detail + f"; reloaded {service}")
