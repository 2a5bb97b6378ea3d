"""The simulator's bridge to real SSH hosts: one ``VpsHost`` per instance under ``<state_dir>/vps/<serviceid>``."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Collection, Sequence
from pathlib import Path

from sandbox.vps_host import VpsHost, allocate_address

log = logging.getLogger("hostwinds_sim.hosts")


class HostManager:
    def __init__(self, state_dir: Path, enabled: bool, port: int = 22) -> None:
        self.root = state_dir / "vps"
        self.enabled = enabled
        self.port = port

    def _dir(self, serviceid: int) -> Path:
        return self.root / str(serviceid)

    def allocate(self, used: Collection[str]) -> str:
        return allocate_address(used, port=self.port)

    def create(self, serviceid: int, address: str, keys: Sequence[str], hostname: str) -> None:
        if not self.enabled:
            return
        directory = self._dir(serviceid)
        if directory.exists():
            shutil.rmtree(directory)
        VpsHost.create(directory, keys, address=address, hostname=hostname, port=self.port, start=False)

    def _host(self, serviceid: int) -> VpsHost | None:
        if not self.enabled or not (self._dir(serviceid) / "host.json").exists():
            return None
        return VpsHost.load(self._dir(serviceid))

    def host(self, serviceid: int) -> VpsHost | None:
        return self._host(serviceid)

    def start(self, serviceid: int) -> None:
        host = self._host(serviceid)
        if host is not None:
            host.start()

    def stop(self, serviceid: int) -> None:
        host = self._host(serviceid)
        if host is not None:
            host.stop()

    def remove(self, serviceid: int) -> None:
        host = self._host(serviceid)
        if host is not None:
            host.stop()
            self._record_leftovers(serviceid, host.upper)
            host.remove()
        shutil.rmtree(self._dir(serviceid), ignore_errors=True)

    def _record_leftovers(self, serviceid: int, upper: Path) -> None:
        """What a terminated VPS's disk still held (the paths the VPS wrote, not their contents): what the next
        customer of that disk could read. Tests check that wipes left nothing secret behind."""
        if not upper.is_dir():
            return
        paths = sorted("/" + str(p.relative_to(upper)) for p in upper.rglob("*") if p.is_file())
        record = self.root.parent / "terminated" / f"{serviceid}.files"
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text("".join(f"{path}\n" for path in paths))

    def leftovers(self, serviceid: int) -> list[str] | None:
        """The paths left on the disk of terminated instance ``serviceid`` (None: not terminated here)."""
        record = self.root.parent / "terminated" / f"{serviceid}.files"
        return record.read_text().splitlines() if record.is_file() else None

    def set_keys(self, serviceid: int, keys: Sequence[str]) -> None:
        host = self._host(serviceid)
        if host is not None:
            host.set_authorized_keys(keys)

    def stop_all(self) -> None:
        for serviceid in self.known():
            self.stop(serviceid)

    def known(self) -> list[int]:
        if not self.root.is_dir():
            return []
        return sorted(int(p.name) for p in self.root.iterdir() if p.name.isdigit())


def stop_all_hosts(state_dir: Path) -> int:
    """Stop every VPS host under a simulator state dir (e.g. after the simulator was killed). Returns how many."""
    stopped = 0
    root = state_dir / "vps"
    if root.is_dir():
        for directory in root.iterdir():
            if (directory / "host.json").exists() and VpsHost.load(directory).stop():
                stopped += 1
    return stopped
