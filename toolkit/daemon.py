"""Start, watch and stop one background server process, with its pid file and log under a state directory.

A daemon is started in its own session (process group) so stopping it leaves nothing behind, and a pid file
left by a killed run is recognised as stale and cleaned up instead of blocking the next start. Its log is mode 0600:
servers print secrets there.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from toolkit.errors import SetupError
from toolkit.wait import WaitTimeout, wait_for

POLL_INTERVAL = 0.05
"""Seconds between two looks at a starting or stopping process."""


@dataclass(frozen=True)
class DaemonSpec:
    name: str
    argv: Sequence[str]
    state_dir: Path
    env: Mapping[str, str] = field(default_factory=dict)
    ready: Callable[[], bool] | None = None
    ready_timeout: float = 20.0

    @property
    def pid_file(self) -> Path:
        return self.state_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.state_dir / f"{self.name}.log"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); treat it as gone.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def read_pid(spec: DaemonSpec) -> int | None:
    try:
        return int(spec.pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def running_pid(spec: DaemonSpec) -> int | None:
    """The daemon's pid if it is running; removes a stale pid file from a killed run."""
    pid = read_pid(spec)
    if pid is None:
        return None
    if pid_alive(pid):
        return pid
    spec.pid_file.unlink(missing_ok=True)
    return None


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def start(spec: DaemonSpec) -> int:
    """Start the daemon unless it already runs; wait until ``spec.ready()`` is true. Returns the pid."""
    pid = running_pid(spec)
    if pid is not None:
        if spec.ready is None or spec.ready():
            return pid
        raise SetupError(
            f"start {spec.name}",
            f"a process (pid {pid}) from an earlier run holds {spec.pid_file} but does not answer",
            "run `invoke sandbox.down` (it stops leftovers) and try again",
        )
    spec.state_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **spec.env}
    with _private_log(spec.log_file) as log:
        try:
            proc = subprocess.Popen(
                list(spec.argv), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=env, start_new_session=True, cwd=spec.state_dir,
            )
        except FileNotFoundError as exc:
            raise SetupError(
                f"start {spec.name}", f"executable {spec.argv[0]!r} not found",
                "run scripts/setup.sh (it installs the sandbox's servers)",
            ) from exc
    spec.pid_file.write_text(str(proc.pid))

    def ready() -> bool:
        code = proc.poll()
        if code is not None:
            spec.pid_file.unlink(missing_ok=True)
            raise SetupError(
                f"start {spec.name}", f"exited with code {code} during start-up; log tail:\n"
                + _log_tail(spec.log_file),
                f"read {spec.log_file}; a port already taken is the usual cause",
            )
        return spec.ready is None or _safe_ready(spec.ready)

    def not_ready(_timeout: WaitTimeout) -> SetupError:
        stop(spec)
        return SetupError(
            f"start {spec.name}", f"not ready after {spec.ready_timeout:.0f} s; log tail:\n"
            + _log_tail(spec.log_file),
            f"read {spec.log_file}",
        )

    wait_for(ready, what=f"{spec.name} to be ready", timeout=spec.ready_timeout, interval=POLL_INTERVAL,
             fail=not_ready)
    return proc.pid


def _private_log(path: Path) -> BinaryIO:
    """The daemon's log, opened for appending with mode 0600 (also tightening one left by an older run):
    servers print secrets there (OpenBao dev mode prints its root token)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, "ab")


def _safe_ready(check: Callable[[], bool]) -> bool:
    try:
        return check()
    except Exception:  # a readiness probe failing for any reason just means "not yet"
        return False


def stop(spec: DaemonSpec, timeout: float = 10.0) -> bool:
    """Stop the daemon's whole process group. Returns True if something was running."""
    pid = running_pid(spec)
    if pid is None:
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)

    def gone() -> bool:
        _reap(pid)
        return not pid_alive(pid)

    with contextlib.suppress(WaitTimeout):
        wait_for(gone, what=f"{spec.name} (pid {pid}) to exit", timeout=timeout, interval=POLL_INTERVAL)
    if pid_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        time.sleep(0.1)
    _reap(pid)
    spec.pid_file.unlink(missing_ok=True)
    return True


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
