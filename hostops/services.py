"""systemd units: enabled and running, restarted only when their configuration changed."""

from __future__ import annotations

from dataclasses import dataclass

from toolkit.ssh import RemoteExecutor, quote_all


@dataclass(frozen=True)
class Change:
    """What one host operation did: ``changed`` False means the host already was as wanted."""

    changed: bool
    detail: str = ""


def ensure_service(executor: RemoteExecutor, unit: str, *, restart: bool = False,
                   daemon_reload: bool = False) -> Change:
    """Enable and start ``unit`` if needed; ``restart``: restart it (its configuration changed); ``daemon_reload``:
    its unit file changed, so systemd re-reads units first."""
    if daemon_reload:
        executor.run(["systemctl", "daemon-reload"])
    if restart:
        executor.run(quote_all(["systemctl", "enable", unit]) + "; " + quote_all(["systemctl", "restart", unit]))
        return Change(True, f"restarted {unit}")
    probe = executor.run(quote_all(["systemctl", "is-active", unit]) + "; "
                         + quote_all(["systemctl", "is-enabled", unit]), check=False)
    if probe.stdout.split()[:2] == ["active", "enabled"]:
        return Change(daemon_reload, "reloaded units" if daemon_reload else "")
    executor.run(quote_all(["systemctl", "enable", "--now", unit]))
    return Change(True, f"enabled and started {unit}")
