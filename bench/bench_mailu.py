"""Benchmark of the Mailu installer over real SSH against sandbox VPS hosts.

Prints the median (of 5) wall time of a first install on a fresh host and of a no-change second run.
Mailu itself does not run here (the host's docker/apt-get/systemctl/ufw are the sandbox's stand-ins), so the
numbers measure the installer: SSH round trips, comparisons and file transfers.

Run as root from the repository root: ``.venv/bin/python -m bench.bench_mailu``.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from mailu.installer import MailuInstaller
from sandbox.vps_host import VpsHost, preflight
from tests.fixtures.mailu import make_ed25519, make_request, make_secrets, mark_installed
from toolkit.ssh import KnownHosts, SshExecutor

ROUNDS = 5


def main() -> int:
    preflight()
    admin, tenant = make_ed25519(), make_ed25519()
    firsts: list[float] = []
    seconds: list[float] = []
    changes: list[int] = []
    with tempfile.TemporaryDirectory(prefix="bench-mailu-") as tmp:
        for index in range(ROUNDS):
            host = VpsHost.create(root_dir=Path(tmp) / f"vps{index}", authorized_keys=[admin.public],
                                  hostname=f"bench{index}")
            try:
                mark_installed(host, "unattended-upgrade")
                request = make_request(make_secrets(admin), tenant)
                executor = SshExecutor(host.address, admin.private,
                                       known_hosts=KnownHosts([host.known_hosts_line()]))
                with executor:
                    installer = MailuInstaller(executor, health_interval=0.05)
                    start = time.perf_counter()
                    installer.install(request)
                    firsts.append(time.perf_counter() - start)
                    start = time.perf_counter()
                    report = installer.install(request)
                    seconds.append(time.perf_counter() - start)
                    changes.append(report.change_count)
            finally:
                host.remove()
    print(f"mailu install, first run on a fresh host : median {statistics.median(firsts):.3f} s "
          f"(min {min(firsts):.3f}, max {max(firsts):.3f}, n={ROUNDS})")
    print(f"mailu install, no-change second run      : median {statistics.median(seconds):.3f} s "
          f"(min {min(seconds):.3f}, max {max(seconds):.3f}, n={ROUNDS}); changes reported: {changes}")
    return 0 if not any(changes) else 1


if __name__ == "__main__":
    sys.exit(main())
