"""A simulated VPS: a real OpenSSH server on its own loopback address with a private root filesystem view.

Usage (standalone, e.g. from an installer's tests)::

    from sandbox.vps_host import VpsHost
    host = VpsHost.create(root_dir=tmp_path / "vps1", authorized_keys=[public_key_line])
    host.address, host.port          # e.g. "127.77.12.34", 22 -> ssh root@127.77.12.34
    host.known_hosts_line()          # "127.77.12.34 ssh-ed25519 AAAA..." to pin the host key
    host.read_text("/etc/hostname")  # read a file as the VPS sees it
    host.standin_calls()             # [{"tool": "docker", "args": [...], ...}, ...]
    host.stop()                      # sshd and every session it spawned are gone; files are kept
    host.start()                     # same address, same files
    host.remove()                    # stop and delete all of its files

``VpsHost.load(root_dir)`` re-attaches to a host created earlier (e.g. by another process).
``allocate_address()`` picks a free address in ``ADDRESS_POOL`` (127.77.0.0/16).

How it is isolated (all as root, nothing configured on the machine itself):
- ``unshare --mount --pid --uts --fork --kill-child``: a private mount table, its own hostname, and a pid
  namespace whose init is sshd, so stopping sshd kills every login session too (nothing left behind).
- An overlay mount with the machine's root filesystem as the read-only lower layer and ``root_dir/fs/upper``
  as the writable layer, then ``chroot`` into it: the VPS shares the machine's binaries but every write
  (``/mailu``, ``/etc``, ``/var``, ...) lands in its own upper layer, so two VPSes never share files.
  ``/root``, ``/home``, ``/tmp`` and non-standard top-level directories start empty (opaque in the upper layer).
- ``docker``, ``apt-get``, ``dpkg-query``, ``systemctl``, ``ufw``, ``fail2ban-client`` and a few more are replaced in
  that view by ``sandbox/vps_standin.py``, which logs each call as a JSON line to ``/var/log/pm-standins.jsonl`` and
  succeeds. Its ``docker compose up`` starts real listeners for Mailu's front (``sandbox/vps_listeners.py``, with
  aiosmtpd copied from the venv) as processes of the host: they end when the host stops, and ``start`` brings
  them back for a project that was up (Docker's ``restart: always``).
Only the lower layer's root filesystem is visible: directories that are separate mounts on the machine
(other than /proc, /dev, /run, which are provided) appear empty inside the VPS.
"""

from __future__ import annotations

import contextlib
import importlib.util
import ipaddress
import json
import os
import random
import shlex
import shutil
import stat
import subprocess
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from toolkit import daemon
from toolkit.errors import SetupError, ValidationError
from toolkit.net import port_free, tcp_listening

ADDRESS_POOL = ipaddress.ip_network("127.77.0.0/16")
SSHD = "/usr/sbin/sshd"
SYSTEM_PYTHON = "/usr/bin/python3"
STANDIN_LOG = "/var/log/pm-standins.jsonl"
STANDIN_SCRIPT = "/usr/local/lib/pm-standins/standin.py"
LISTENERS_SCRIPT = "/usr/local/lib/pm-standins/listeners.py"
LISTENER_PACKAGES = ("aiosmtpd", "public", "attr", "attrs")
"""Pure-Python packages the listeners import (aiosmtpd and its dependencies), copied from this venv."""
STANDIN_STATE = "/var/lib/pm-standins/state.json"
STANDIN_NAMES = (
    "docker", "docker-compose", "systemctl", "ufw", "fail2ban-client", "apt-get", "apt", "apt-mark", "dpkg-query",
    "service", "journalctl", "reboot", "shutdown", "hostnamectl", "timedatectl",
)
# Directories a fresh VPS has but whose content on this machine must not leak into it.
FRESH_DIRS = {"root": 0o700, "home": 0o755, "tmp": 0o1777, "var/tmp": 0o1777, "srv": 0o755, "opt": 0o755}
# Top-level directories of a standard Debian root; anything else at the top (e.g. /work) is hidden.
STANDARD_TOP = frozenset({
    "bin", "boot", "dev", "etc", "home", "lib", "lib32", "lib64", "libx32", "media", "mnt", "opt", "proc",
    "root", "run", "sbin", "srv", "sys", "tmp", "usr", "var",
})
_OPAQUE_XATTR = "trusted.overlay.opaque"
_HOST_FILE = "host.json"


def allocate_address(used: Collection[str] = (), port: int = 22) -> str:
    """A loopback address in ``ADDRESS_POOL`` that is not in ``used`` and has ``port`` free."""
    size = ADDRESS_POOL.num_addresses
    start = random.randrange(size)
    for step in range(size):
        candidate = ADDRESS_POOL.network_address + (start + step) % size
        last_octet = int(candidate) & 0xFF
        if last_octet in (0, 1, 255):
            continue
        text = str(candidate)
        if text not in used and port_free(port, text):
            return text
    raise SetupError("allocate a VPS address", f"no free address left in {ADDRESS_POOL}",
                     "remove stopped VPS hosts (sandbox reset)")


def preflight() -> None:
    """Raise SetupError naming what is missing for VPS hosts on this machine."""
    if os.geteuid() != 0:
        raise SetupError("start a VPS host", "not running as root (mount namespaces need it)", "run as root")
    if not os.access(SSHD, os.X_OK):
        raise SetupError("start a VPS host", f"{SSHD} not found", "run scripts/setup.sh (installs openssh-server)")
    if shutil.which("unshare") is None or shutil.which("chroot") is None:
        raise SetupError("start a VPS host", "unshare/chroot not found", "install util-linux and coreutils")
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        raise SetupError("start a VPS host", f"{SYSTEM_PYTHON} not found (the tool stand-ins need it)",
                         "install python3 from the system packages")
    missing = [name for name in LISTENER_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise SetupError("start a VPS host", f"{', '.join(missing)} not installed (the stand-in listeners need it)",
                         "run scripts/setup.sh (installs the dev dependencies)")


def _validate_root_dir(root_dir: Path) -> Path:
    resolved = root_dir.resolve()
    # overlayfs mount options are comma/colon separated; such paths cannot be passed safely.
    if any(ch in str(resolved) for ch in ",:\n"):
        raise ValidationError("root_dir", f"{resolved} must not contain ',', ':' or newlines")
    return resolved


def _validate_key(line: str) -> str:
    parts = line.strip().split()
    if len(parts) < 2 or not parts[0].startswith(("ssh-", "ecdsa-", "sk-")):
        raise ValidationError("authorized_keys", f"{line[:40]!r}... is not an OpenSSH public key line")
    return line.strip()


@dataclass
class VpsHost:
    """One simulated VPS. Create with ``VpsHost.create``; re-attach with ``VpsHost.load``."""

    root_dir: Path
    address: str
    hostname: str
    port: int = 22

    # --- construction ---------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        root_dir: Path,
        authorized_keys: Sequence[str],
        address: str | None = None,
        hostname: str = "vps",
        port: int = 22,
        start: bool = True,
    ) -> VpsHost:
        """Prepare the host's files under ``root_dir`` (must be new or empty) and start its sshd."""
        preflight()
        root = _validate_root_dir(Path(root_dir))
        if root.exists() and any(root.iterdir()):
            raise ValidationError("root_dir", f"{root} is not empty; use VpsHost.load to re-attach")
        if address is None:
            address = allocate_address(port=port)
        elif ipaddress.ip_address(address) not in ipaddress.ip_network("127.0.0.0/8"):
            raise ValidationError("address", f"{address} is not a loopback address (127.x.y.z)")
        keys = [_validate_key(k) for k in authorized_keys]
        host = cls(root_dir=root, address=address, hostname=hostname, port=port)
        host._prepare_filesystem(keys)
        (root / _HOST_FILE).write_text(json.dumps(
            {"address": address, "hostname": hostname, "port": port}, indent=1))
        if start:
            host.start()
        return host

    @classmethod
    def load(cls, root_dir: Path) -> VpsHost:
        root = Path(root_dir).resolve()
        try:
            data = json.loads((root / _HOST_FILE).read_text())
        except (OSError, ValueError) as exc:
            raise ValidationError("root_dir", f"{root} holds no VPS host ({_HOST_FILE} unreadable)") from exc
        return cls(root_dir=root, address=str(data["address"]), hostname=str(data["hostname"]),
                   port=int(data.get("port", 22)))

    # --- layout -----------------------------------------------------------------------------------

    @property
    def upper(self) -> Path:
        return self.root_dir / "fs" / "upper"

    @property
    def _work(self) -> Path:
        return self.root_dir / "fs" / "work"

    @property
    def _merged(self) -> Path:
        return self.root_dir / "fs" / "merged"

    @property
    def _spec(self) -> daemon.DaemonSpec:
        return daemon.DaemonSpec(
            name="sshd", argv=self._argv(), state_dir=self.root_dir,
            ready=lambda: tcp_listening(self.address, self.port), ready_timeout=15.0,
        )

    @property
    def host_public_key(self) -> str:
        return (self.upper / "etc/ssh/pm_host_ed25519_key.pub").read_text().strip()

    def known_hosts_line(self) -> str:
        target = self.address if self.port == 22 else f"[{self.address}]:{self.port}"
        return f"{target} {self.host_public_key}"

    def _prepare_filesystem(self, keys: Sequence[str]) -> None:
        for directory in (self.upper, self._work, self._merged):
            directory.mkdir(parents=True, exist_ok=True)
        for rel, mode in FRESH_DIRS.items():
            self._opaque_dir(rel, mode)
        for entry in Path("/").iterdir():
            if entry.is_dir() and not entry.is_symlink() and entry.name not in STANDARD_TOP:
                self._opaque_dir(entry.name, 0o755)
        self._write_sshd_files()
        self.set_authorized_keys(keys)
        (self.upper / "etc").mkdir(exist_ok=True)
        (self.upper / "etc/hostname").write_text(self.hostname + "\n")
        self._install_standins()

    def _opaque_dir(self, rel: str, mode: int) -> None:
        path = self.upper / rel
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(mode)
        os.setxattr(path, _OPAQUE_XATTR, b"y")

    def _write_sshd_files(self) -> None:
        ssh_dir = self.upper / "etc/ssh"
        ssh_dir.mkdir(parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        private = ssh_dir / "pm_host_ed25519_key"
        private.write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()))
        private.chmod(0o600)
        public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        (ssh_dir / "pm_host_ed25519_key.pub").write_text(public.decode() + f" root@{self.hostname}\n")
        (ssh_dir / "pm_sshd_config").write_text(
            f"ListenAddress {self.address}:{self.port}\n"
            "HostKey /etc/ssh/pm_host_ed25519_key\n"
            "PidFile none\n"
            "PermitRootLogin prohibit-password\n"
            "PasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n"
            "UsePAM no\n"
            "AuthorizedKeysFile .ssh/authorized_keys\n"
            "PrintMotd no\n"
            "AcceptEnv LANG LC_*\n"
            "Subsystem sftp internal-sftp\n"
        )

    def _install_standins(self) -> None:
        script = self.upper / STANDIN_SCRIPT.lstrip("/")
        script.parent.mkdir(parents=True, exist_ok=True)
        source = (Path(__file__).with_name("vps_standin.py")).read_text()
        body = source.split("\n", 1)[1] if source.startswith("#!") else source
        script.write_text(f"#!{SYSTEM_PYTHON}\n{body}")
        script.chmod(0o755)
        listeners = self.upper / LISTENERS_SCRIPT.lstrip("/")
        listeners.write_text((Path(__file__).with_name("vps_listeners.py")).read_text())
        listeners.chmod(0o755)
        site = listeners.parent / "site"
        for package in LISTENER_PACKAGES:
            spec = importlib.util.find_spec(package)
            locations = list(spec.submodule_search_locations or []) if spec is not None else []
            if locations:
                shutil.copytree(locations[0], site / package, dirs_exist_ok=True,
                                ignore=shutil.ignore_patterns("__pycache__", "tests", "docs"))
        for name in STANDIN_NAMES:
            targets = {self.upper / "usr/local/sbin" / name}
            # Shadow the real tool wherever it lives, so absolute paths (/usr/bin/systemctl) hit the stand-in too.
            for directory in ("/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"):
                if not Path(directory).is_symlink() and Path(directory, name).exists():
                    targets.add(self.upper / directory.lstrip("/") / name)
            for target in targets:
                target.parent.mkdir(parents=True, exist_ok=True)
                with contextlib.suppress(FileNotFoundError):
                    target.unlink()
                target.symlink_to(STANDIN_SCRIPT)

    def _argv(self) -> list[str]:
        merged = shlex.quote(str(self._merged))
        options = f"lowerdir=/,upperdir={self.upper},workdir={self._work}"
        script = "; ".join([
            "set -e",
            f"mount -t overlay overlay -o {shlex.quote(options)} {merged}",
            f"mount -t proc proc {merged}/proc",
            f"mount --rbind /dev {merged}/dev",
            f"mount -t tmpfs -o mode=755 tmpfs {merged}/run",
            f"mkdir -p {merged}/run/sshd",
            f"echo {shlex.quote(self.hostname)} > /proc/sys/kernel/hostname",
            f"exec chroot {merged} {SSHD} -D -e -f /etc/ssh/pm_sshd_config",
        ])
        return ["unshare", "--mount", "--pid", "--uts", "--fork", "--kill-child", "--propagation", "private",
                "/bin/sh", "-c", script]

    # --- lifecycle --------------------------------------------------------------------------------

    def start(self) -> None:
        """Start sshd unless it already runs; returns when it accepts TCP connections."""
        was_running = daemon.running_pid(self._spec) is not None
        if not was_running and not port_free(self.port, self.address):
            raise SetupError(f"start VPS host {self.hostname}",
                             f"{self.address}:{self.port} is already taken by another process",
                             "stop that process or give this host another address")
        daemon.start(self._spec)
        if not was_running:
            self._boot_services()

    def _boot_services(self) -> None:
        """Start the stand-in listeners of compose projects that were up before the host stopped."""
        try:
            state = json.loads((self.upper / STANDIN_STATE.lstrip("/")).read_text())
        except (OSError, ValueError):
            return
        init_pid = self._namespace_init_pid()
        if not isinstance(state, dict) or not state.get("compose_up") or init_pid is None:
            return
        subprocess.run(["nsenter", "--target", str(init_pid), "--mount", "--pid", "--root", "--wd", "--",
                        SYSTEM_PYTHON, STANDIN_SCRIPT, "--boot"], check=False, timeout=60,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def running(self) -> bool:
        return daemon.running_pid(self._spec) is not None

    def stop(self) -> bool:
        """Stop sshd and every process in the host's pid namespace. Returns True if it was running."""
        return daemon.stop(self._spec)

    def remove(self) -> None:
        """Stop the host and delete every file it has (its whole ``root_dir``)."""
        self.stop()
        shutil.rmtree(self.root_dir, ignore_errors=True)

    def _namespace_init_pid(self) -> int | None:
        pid = daemon.running_pid(self._spec)
        if pid is None:
            return None
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            return None
        return int(children[0]) if children else None

    # --- files as the VPS sees them ---------------------------------------------------------------

    def path(self, vps_path: str) -> Path:
        """Where a file of the VPS lives for this machine: the live view while running, else the upper layer."""
        rel = vps_path.lstrip("/")
        init_pid = self._namespace_init_pid()
        if init_pid is not None:
            return Path(f"/proc/{init_pid}/root") / rel
        return self.upper / rel

    def read_text(self, vps_path: str) -> str:
        return self.path(vps_path).read_text()

    def set_authorized_keys(self, keys: Sequence[str]) -> None:
        """Replace root's authorized_keys (works while running or stopped)."""
        lines = [_validate_key(k) for k in keys]
        ssh_dir = self.path("/root/.ssh")
        ssh_dir.mkdir(parents=True, exist_ok=True)
        ssh_dir.chmod(0o700)
        target = ssh_dir / "authorized_keys"
        target.write_text("".join(line + "\n" for line in lines))
        target.chmod(stat.S_IRUSR | stat.S_IWUSR)

    def standin_calls(self) -> list[dict[str, Any]]:
        """Every stand-in call recorded on this host, oldest first."""
        try:
            text = self.read_text(STANDIN_LOG)
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines() if line.strip()]
