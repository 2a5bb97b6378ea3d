"""The simulator as a background process (for the sandbox) and a small client of its admin endpoint."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import requests

from sandbox.hostwinds_sim.faults import Fault
from sandbox.hostwinds_sim.hosts import stop_all_hosts
from sandbox.hostwinds_sim.server import ADMIN_PREFIX, API_PATH
from toolkit import daemon
from toolkit.net import require_free, tcp_listening

ENV_API_KEY = "HOSTWINDS_SIM_API_KEY"


class SimulatorProcess:
    """``python -m sandbox.hostwinds_sim`` under toolkit.daemon: pid file and log in ``state_dir``.

    The key goes through the environment, not argv, so it never shows in a process listing.
    """

    def __init__(self, state_dir: Path, port: int, api_key: str, settings: dict[str, Any] | None = None) -> None:
        self.state_dir = Path(state_dir)
        self.port = port
        self.api_key = api_key
        argv = [sys.executable, "-m", "sandbox.hostwinds_sim", "--state-dir", str(self.state_dir),
                "--port", str(port)]
        if settings:
            argv += ["--settings-json", json.dumps(settings)]
        self.spec = daemon.DaemonSpec(
            name="hostwinds-sim", argv=argv, state_dir=self.state_dir, env={ENV_API_KEY: api_key},
            ready=lambda: tcp_listening("127.0.0.1", port),
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{API_PATH}"

    def start(self) -> int:
        if daemon.running_pid(self.spec) is None:
            require_free(self.port, "the Hostwinds simulator")
        return daemon.start(self.spec)

    def stop(self) -> bool:
        """Stop the process (it stops its VPS hosts on SIGTERM); also stops hosts a killed run left behind."""
        was_running = daemon.stop(self.spec)
        stop_all_hosts(self.state_dir)
        return was_running

    def running(self) -> bool:
        return daemon.running_pid(self.spec) is not None

    def admin(self) -> AdminClient:
        return AdminClient(f"http://127.0.0.1:{self.port}", self.api_key)


class AdminClient:
    """Fault injection and state tweaks over HTTP (works for both the in-process and the process mode)."""

    def __init__(self, base_url: str, api_key: str, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = {"X-Sim-Key": api_key}
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"AdminClient(base_url={self.base_url!r})"

    def _call(self, method: str, route: str, body: Any = None) -> Any:
        response = requests.request(method, f"{self.base_url}{ADMIN_PREFIX}{route}", json=body,
                                    headers=self._headers, timeout=self.timeout)
        if response.status_code != 200:
            raise RuntimeError(f"simulator admin {method} {route}: HTTP {response.status_code} {response.text[:200]}")
        return response.json()

    def inject(self, kind: str, **options: Any) -> list[dict[str, Any]]:
        fault = Fault(kind=kind, **options)
        result: list[dict[str, Any]] = self._call("POST", "faults", asdict(fault))
        return result

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    def faults(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "faults")
        return result

    def update_settings(self, **changes: Any) -> None:
        self._call("PATCH", "settings", changes)

    def instances(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "instances")
        return result

    def calls(self) -> list[dict[str, str]]:
        """The last API calls the simulator received (action and address family), oldest first."""
        result: list[dict[str, str]] = self._call("GET", "calls")
        return result

    def ssh_keys(self) -> list[str]:
        """Names of the SSH keys registered with the account."""
        result: list[str] = self._call("GET", "ssh-keys")
        return result

    def patch_instance(self, serviceid: str | int, **changes: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._call("PATCH", f"instances/{serviceid}", changes)
        return result
