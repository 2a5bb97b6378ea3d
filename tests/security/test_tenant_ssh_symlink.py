"""Attack: a tenant turns root's touches of its home into root on its VPS (item 1 of issue 11).

Reproduced on real OpenSSH hosts (sandbox VPS, real kernel permission checks): the tenant logs in with its own key
and plants a link in its home (``mv ~/.ssh ~/.ssh.orig; ln -s /etc/profile.d ~/.ssh``), then the operator runs
the root-side operation that writes there: the installer's tenant-user step (``MailuInstaller.install``), which is
also how a tenant-key rotation, revocation or regeneration reaches the host (the engine re-runs it with the new
key set). Before, ``install -d -o <tenant>`` handed /etc/profile.d to the tenant and the next
root login shell ran the tenant's script. Each test asserts the victim path is unchanged (owner, mode, content,
no new entry) and that the operation repaired the home safely or refused with a clear message.

Variants that need a root-made state (a hard link to a root file, which ``fs.protected_hardlinks`` stops a tenant
from making; ``/home/<user>`` itself a link, which needs write access to /home) are planted as root: they stand
for a host where those protections were off or an earlier bug left such a state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from mailu.errors import MailuInstallError
from mailu.installer import InstallReport, MailuInstaller
from mailu.secrets import StaticSecrets
from tests.fixtures.mailu import TENANT_ID, KeyPair, make_ed25519, make_request
from toolkit.ssh import KnownHosts, SshExecutor
from toolkit.tenant_config import TenantConfig, parse_tenant_config
from toolkit.tenant_files import AUTHORIZED_KEYS, TenantFiles, TenantHomeError

ExecutorFor = Callable[..., SshExecutor]
USER = "tenant-acme1234"
HOME = f"/home/{USER}"
PROFILE_D = "/etc/profile.d"
ROOT_KEYS = "/root/.ssh/authorized_keys"


def _tenant_config() -> TenantConfig:
    return parse_tenant_config({
        "tenant_id": TENANT_ID, "domain": "acme.example",
        "dns": {"provider": "rfc2136", "server": "127.0.0.1", "port": 15353, "tsig_key_name": "k"},
        "dkim_selector": "pm20261124",
    })


def _install(executor: SshExecutor, secrets: StaticSecrets, tenant_key: KeyPair) -> InstallReport:
    return MailuInstaller(executor, health_interval=0.05).install(make_request(secrets, tenant_key))


def _as_tenant(host: Any, key: KeyPair) -> SshExecutor:
    """The tenant's own SSH session, with its own key (what the attacker has)."""
    return SshExecutor(host.address, key.private, port=host.port, user=USER,
                       known_hosts=KnownHosts(lines=[host.known_hosts_line()]), boot_timeout=10.0)


def _snapshot(root: SshExecutor, path: str) -> str:
    """Owner, mode, type and link count of ``path`` and of every entry in it, with the SHA-256 of each file."""
    script = (f"stat -c '%n %a %u:%g %F %h' -- {path}; "
              f"if [ -d {path} ]; then find {path} -mindepth 1 -printf '%p %m %U:%G %y %n\\n' | sort; "
              f"find {path} -type f -exec sha256sum -- {{}} + | sort; else sha256sum -- {path}; fi")
    return root.run(script).stdout


def _kind(root: SshExecutor, path: str) -> str:
    return root.run(["stat", "-c", "%F %U:%G %a", "--", path]).stdout.strip()


def _tenant_can_log_in(host: Any, key: KeyPair) -> bool:
    with _as_tenant(host, key) as session:
        return session.run(["id", "-un"]).stdout.strip() == USER


def _plant_ssh_symlink_to_profile_d(host: Any, tenant_key: KeyPair) -> None:
    with _as_tenant(host, tenant_key) as tenant:
        tenant.run(f"mv ~/.ssh ~/.ssh.orig && ln -s {PROFILE_D} ~/.ssh")
        assert tenant.run(["readlink", f"{HOME}/.ssh"]).stdout.strip() == PROFILE_D


def _assert_profile_d_is_still_roots(root: SshExecutor, host: Any, tenant_key: KeyPair, before: str) -> None:
    assert _snapshot(root, PROFILE_D) == before
    assert _kind(root, PROFILE_D) == "directory root:root 755"
    with _as_tenant(host, tenant_key) as tenant:  # the attack's last step: the tenant drops a login script
        attempt = tenant.run(f"echo 'chmod u+s /bin/bash' > {PROFILE_D}/zz-pm-evil.sh", check=False)
    assert attempt.exit_code != 0 and "Permission denied" in attempt.stderr
    assert _snapshot(root, PROFILE_D) == before


def _assert_ssh_dir_repaired(root: SshExecutor) -> None:
    assert _kind(root, f"{HOME}/.ssh") == f"directory {USER}:{USER} 700"
    assert _kind(root, f"{HOME}/.ssh/authorized_keys") == f"regular file {USER}:{USER} 600"
    aside = root.run(f"ls -d {HOME}/.ssh.pm-quarantine-*").stdout.split()
    assert len(aside) == 1
    assert root.run(["readlink", aside[0]]).stdout.strip() == PROFILE_D  # moved aside, never followed


def test_ssh_dir_symlinked_to_profile_d_does_not_give_profile_d_to_the_tenant_via_the_installer(
    mailu_vps: Any, mailu_executor_for: ExecutorFor, mailu_secrets: StaticSecrets, mailu_tenant_key: KeyPair,
) -> None:
    root = mailu_executor_for(mailu_vps)
    _install(root, mailu_secrets, mailu_tenant_key)
    _plant_ssh_symlink_to_profile_d(mailu_vps, mailu_tenant_key)
    before = _snapshot(root, PROFILE_D)

    report = _install(root, mailu_secrets, mailu_tenant_key)

    tenant_step = next(step for step in report.steps if step.name == "tenant-user")
    assert report.changed_steps == ("tenant-user",)
    assert f"moved {HOME}/.ssh (symlink" in tenant_step.detail
    _assert_profile_d_is_still_roots(root, mailu_vps, mailu_tenant_key, before)
    _assert_ssh_dir_repaired(root)
    assert mailu_vps.read_text(f"{HOME}/.ssh/authorized_keys") == mailu_tenant_key.public + "\n"
    assert _tenant_can_log_in(mailu_vps, mailu_tenant_key)
    assert _install(root, mailu_secrets, mailu_tenant_key).change_count == 0  # repaired state is converged


def test_ssh_dir_symlinked_to_profile_d_does_not_give_profile_d_to_the_tenant_via_tenant_key_rotation(
    mailu_vps: Any, mailu_executor_for: ExecutorFor, mailu_secrets: StaticSecrets, mailu_tenant_key: KeyPair,
) -> None:
    root = mailu_executor_for(mailu_vps)
    _install(root, mailu_secrets, mailu_tenant_key)
    _plant_ssh_symlink_to_profile_d(mailu_vps, mailu_tenant_key)
    before = _snapshot(root, PROFILE_D)
    new_key = make_ed25519()

    _install(root, mailu_secrets, new_key)  # a rotation's converge: the new tenant key set

    # What sat behind the link was never read: the file holds the new key set only.
    _assert_profile_d_is_still_roots(root, mailu_vps, new_key, before)
    _assert_ssh_dir_repaired(root)
    assert mailu_vps.read_text(f"{HOME}/.ssh/authorized_keys") == new_key.public + "\n"
    assert _tenant_can_log_in(mailu_vps, new_key)


def test_authorized_keys_symlinked_to_roots_keys_neither_leaks_nor_changes_them(
    mailu_vps: Any, mailu_executor_for: ExecutorFor, mailu_secrets: StaticSecrets, mailu_tenant_key: KeyPair,
    mailu_admin_key: KeyPair,
) -> None:
    root = mailu_executor_for(mailu_vps)
    _install(root, mailu_secrets, mailu_tenant_key)
    with _as_tenant(mailu_vps, mailu_tenant_key) as tenant:
        tenant.run(f"rm ~/.ssh/authorized_keys && ln -s {ROOT_KEYS} ~/.ssh/authorized_keys")
    before = _snapshot(root, ROOT_KEYS)
    new_key = make_ed25519()

    _install(root, mailu_secrets, new_key)
    assert _snapshot(root, ROOT_KEYS) == before
    assert _kind(root, f"{HOME}/.ssh/authorized_keys") == f"regular file {USER}:{USER} 600"
    assert mailu_admin_key.public.split()[1] not in mailu_vps.read_text(f"{HOME}/.ssh/authorized_keys")

    with _as_tenant(mailu_vps, new_key) as tenant:  # the same link again, then the installer
        tenant.run(f"rm ~/.ssh/authorized_keys && ln -s {ROOT_KEYS} ~/.ssh/authorized_keys")
    report = _install(root, mailu_secrets, mailu_tenant_key)
    assert report.changed_steps == ("tenant-user",)
    assert "replaced a symlink" in next(s.detail for s in report.steps if s.name == "tenant-user")
    assert _snapshot(root, ROOT_KEYS) == before
    assert mailu_vps.read_text(f"{HOME}/.ssh/authorized_keys") == mailu_tenant_key.public + "\n"


def test_authorized_keys_hard_linked_to_a_root_file_is_replaced_not_chowned(
    mailu_vps: Any, mailu_executor_for: ExecutorFor, mailu_secrets: StaticSecrets, mailu_tenant_key: KeyPair,
) -> None:
    root = mailu_executor_for(mailu_vps)
    _install(root, mailu_secrets, mailu_tenant_key)
    victim = "/etc/pm-victim.conf"
    keys = f"{HOME}/.ssh/authorized_keys"
    # Same bytes as the managed file, root's owner and mode: converging owner/mode in place would chown the victim.
    root.put_file(victim, (mailu_tenant_key.public + "\n").encode(), mode=0o644)
    before = _snapshot(root, victim)
    root.run(f"rm -f {keys} && ln {victim} {keys}")
    assert _kind(root, keys) == "regular file root:root 644"

    report = _install(root, mailu_secrets, mailu_tenant_key)

    assert "not the tenant's alone" in next(s.detail for s in report.steps if s.name == "tenant-user")
    assert _snapshot(root, victim) == before  # root:root 644, same bytes, one link again
    assert _kind(root, keys) == f"regular file {USER}:{USER} 600"

    root.run(f"rm -f {keys} && ln {victim} {keys}")
    _install(root, mailu_secrets, make_ed25519())
    assert _snapshot(root, victim) == before


def test_home_symlinked_to_profile_d_is_refused_with_a_clear_message(
    mailu_vps: Any, mailu_executor_for: ExecutorFor, mailu_secrets: StaticSecrets, mailu_tenant_key: KeyPair,
) -> None:
    root = mailu_executor_for(mailu_vps)
    _install(root, mailu_secrets, mailu_tenant_key)
    root.run(f"mv {HOME} {HOME}.real && ln -s {PROFILE_D} {HOME}")
    before = _snapshot(root, PROFILE_D)

    with pytest.raises(MailuInstallError, match=rf"'tenant-user'.*{HOME} is a symlink, not a directory"):
        _install(root, mailu_secrets, mailu_tenant_key)
    with pytest.raises(TenantHomeError, match=rf"{HOME} is a symlink, not a directory"):
        TenantFiles(root, USER).write(AUTHORIZED_KEYS, make_ed25519().public.encode())
    assert TenantFiles(root, USER).read(AUTHORIZED_KEYS) is None  # never read through the link

    assert _snapshot(root, PROFILE_D) == before
    assert _kind(root, PROFILE_D) == "directory root:root 755"
    assert root.run(["readlink", HOME]).stdout.strip() == PROFILE_D  # left as found, for the operator to look at
