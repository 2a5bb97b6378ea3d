"""An sshd drop-in (``/etc/ssh/sshd_config.d/``): written only when it differs, checked with ``sshd -t`` before
sshd reloads, and the previous state put back when sshd refuses it (a broken sshd config locks everyone out)."""

from __future__ import annotations

from collections.abc import Sequence

from hostops.files import DesiredDir, DesiredFile, sync_dirs, sync_files
from hostops.services import Change
from toolkit.errors import ToolkitError
from toolkit.ssh import RemoteExecutor

HARDENED_DROPIN = "/etc/ssh/sshd_config.d/00-pm-hardening.conf"


def hardened_dropin() -> str:
    """Every host the toolkit manages (tenant VPSes, Vault nodes): key-only root, no passwords."""
    return (
        "# Managed by pm-mail-infra. sshd keeps the first value it reads: this file sorts first on purpose.\n"
        "# Root may log in with a key only (the operator's admin key); nobody may log in with a password.\n"
        "PermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        "PermitEmptyPasswords no\n"
        "PubkeyAuthentication yes\n"
        "# Only the file the toolkit manages: a key a tenant drops into ~/.ssh/authorized_keys2 must not log in.\n"
        "AuthorizedKeysFile .ssh/authorized_keys\n"
        "MaxAuthTries 3\n"
        "LoginGraceTime 30\n"
        "X11Forwarding no\n"
    )


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
