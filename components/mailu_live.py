"""What a Mailu install looks like on its host now: the digest of the files the installer manages, read over SSH.

Used by ``MailuInstall.read`` (refresh). The digest has the installer's formula (``hostops.files.files_digest``: path,
content SHA-256 and mode of every managed file, sorted by path), taken from the live files instead of the desired
ones, so a converged host gives exactly the ``files_digest`` its last install reported, and any edit, chmod or
removal of a managed file gives another one. Nothing is written on the host and no secret content is read:
``stat`` and ``sha256sum`` run on the host, only hashes come back.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from components.engine_numbers import whole_numbers
from mailu import docker_apt, hardening
from mailu.config import MailuConfig
from mailu.docker_host import DAEMON_JSON
from mailu.hardening import HardeningConfig
from mailu.overrides import front_override_files
from mailu.render import COMPOSE_PATH, ENV_PATH
from mailu.secrets import SecretRefs, resolve_loader
from toolkit.errors import ToolkitError
from toolkit.redact import scrub
from toolkit.ssh import FileStat, HostKeyError, KnownHosts, RemoteExecutor, SshExecutor, sha256_hex
from toolkit.tenant_files import AUTHORIZED_KEYS, TenantFiles

READ_CONNECT_TIMEOUT = 5.0
READ_BOOT_TIMEOUT = 10.0
"""A refresh waits this long for a host that does not answer (an install waits for a boot; a read does not)."""


def managed_paths(config: MailuConfig, hardening_config: HardeningConfig) -> list[str]:
    """The files ``MailuInstaller.install`` counts in its ``files_digest`` (same list, same order rules)."""
    files = [*hardening.fail2ban_files(hardening_config), *hardening.sshd_files(), *hardening.auto_upgrade_files(),
             *hardening.firewall_files(hardening_config), hardening.tenant_authorized_keys(hardening_config)]
    docker = [DAEMON_JSON, docker_apt.KEYRING_PATH, docker_apt.SOURCE_PATH]
    overrides = [f.path for f in front_override_files(config)]
    return sorted({COMPOSE_PATH, ENV_PATH, config.dkim_key_path, *docker, *overrides, *(f.path for f in files)})


def live_digest(stats: Mapping[str, FileStat | None], paths: Sequence[str]) -> str:
    """``files_digest`` over the live files; a missing file, or something else where a file belongs, is hashed as
    such (it can never match an installed digest)."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        stat = stats.get(path)
        if stat is not None and stat.kind == "file" and stat.sha256:
            digest.update(f"{path}\0{stat.sha256}\0{stat.mode:o}\n".encode())
        else:
            digest.update(f"{path}\0{'missing' if stat is None else stat.kind}\n".encode())
    return digest.hexdigest()


def read_files_digest(executor: RemoteExecutor, config: MailuConfig, hardening_config: HardeningConfig) -> str:
    """Root stats the root-owned files; the tenant's authorized_keys is read AS the tenant (root never follows a
    link planted in the tenant's home, and the read is capped, so a huge or special file cannot stall a refresh)."""
    paths = managed_paths(config, hardening_config)
    tenant_file = hardening.tenant_authorized_keys(hardening_config).path
    stats = executor.file_stats([p for p in paths if p != tenant_file])
    found = TenantFiles(executor, hardening_config.tenant_user).trusted_stat(AUTHORIZED_KEYS)
    stats[tenant_file] = None if found is None else FileStat(
        path=tenant_file, kind="file", mode=found[1], owner=hardening_config.tenant_user,
        group=hardening_config.tenant_user, uid=-1, gid=-1, sha256=sha256_hex(found[0]))
    return live_digest(stats, paths)


@dataclass(frozen=True)
class LiveRead:
    """The digest read from the host, or why it could not be read (``digest`` None: keep the recorded state)."""

    digest: str | None
    problem: str = ""


def read_install(props: Mapping[str, Any]) -> LiveRead:
    """Connect as the installer did (admin key from the secrets loader at run time, host keys recorded at install)
    and read the managed files' digest. A host or Vault that cannot be reached gives a ``LiveRead`` with the
    problem; a host presenting another host key raises ``HostKeyError`` (another machine at the recorded address
    is not "unreachable", and must not be reported as converged or silently skipped)."""
    config = MailuConfig.from_dict(whole_numbers(props["mailu_config"]))
    hardening_config = HardeningConfig(tenant_id=str(props["tenant_id"]),
                                       tenant_public_keys=tuple(props.get("tenant_public_keys") or ()))
    pinned = list(props.get("host_keys") or props.get("known_hosts") or [])
    known = KnownHosts(lines=pinned, trust_on_first_use=not pinned and bool(props.get("trust_on_first_use")))
    try:
        refs = SecretRefs.from_dict(whole_numbers(props["secret_refs"]))
        secrets = resolve_loader(str(props["secrets_loader"]))(refs)
        executor = SshExecutor(str(props["host"]), secrets.admin_ssh_private_key(), port=int(props.get("port") or 22),
                               known_hosts=known, connect_timeout=READ_CONNECT_TIMEOUT,
                               boot_timeout=READ_BOOT_TIMEOUT)
        with executor:
            return LiveRead(read_files_digest(executor, config, hardening_config))
    except HostKeyError:
        raise
    except (ToolkitError, OSError) as exc:
        return LiveRead(None, scrub(str(exc)))


def warn(message: str) -> None:
    # Dynamic providers have no engine log channel; the engine shows a provider's stderr with the resource.
    print(f"pm-mailu: warning: {message}", file=sys.stderr)
