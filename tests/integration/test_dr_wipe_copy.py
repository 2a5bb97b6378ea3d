"""The two host-side pieces of dr.migrate against real SSH hosts and a real OpenBao: the wipe before terminate and
the streamed mail-data copy."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from fleet.mail_copy import copy_mail_data
from fleet.wipe import wipe_host
from tests.fixtures.openbao import DevServer
from tests.fixtures.ssh import ClientKey
from toolkit.ssh import KnownHosts, SshExecutor
from vault import kv, paths
from vault.client import VaultClient

TENANT = "wipetest"


@pytest.fixture
def admin_key_in_vault(monkeypatch: pytest.MonkeyPatch, openbao_dev: DevServer, vault_root: VaultClient,
                       vault_bootstrap: Any, sshhost_client_key: ClientKey) -> str:
    monkeypatch.setenv("VAULT_ADDR", openbao_dev.address)
    monkeypatch.setenv("VAULT_TOKEN", openbao_dev.root_token)
    monkeypatch.delenv("VAULT_ADDRS", raising=False)
    path = paths.admin_ssh(TENANT)
    kv.write_next(vault_root, path, {"private_key": sshhost_client_key.private_pem,
                                     "public_key": sshhost_client_key.public_line})
    return path.logical


def _executor(host: Any, key: ClientKey) -> SshExecutor:
    return SshExecutor(host.address, key.private_pem, port=host.port, known_hosts=KnownHosts([host.known_hosts_line()]))


def test_wipe_removes_mailu_keys_and_access(sshhost_factory: Callable[..., Any], admin_key_in_vault: str,
                                            sshhost_client_key: ClientKey) -> None:
    host = sshhost_factory("old")
    with _executor(host, sshhost_client_key) as ex:
        ex.run("mkdir -p /mailu/dkim /mailu/mail/u /etc/pm-mail-infra /etc/pm-victim")
        for user in ("tenant-x", "tenant-evil"):
            ex.run(["useradd", "--create-home", "--user-group", user])
        ex.run("install -d -o tenant-x -g tenant-x -m 700 /home/tenant-x/.ssh")
        for path in ("/mailu/dkim/d.key", "/mailu/mail/u/1", "/mailu/mailu.env", "/etc/pm-mail-infra/mailu-admin",
                     "/etc/pm-victim/authorized_keys"):
            ex.put_file(path, b"secret-ish\n", mode=0o600)
        ex.put_file("/home/tenant-x/.ssh/authorized_keys", b"ssh-ed25519 AAAA x\n", mode=0o600, owner="tenant-x")
        ex.run("ln -s /etc/pm-victim /home/tenant-evil/.ssh")  # a tenant's planted link to a root directory
    result = wipe_host(host.address, admin_key_in_vault, port=host.port, timeout=10)
    assert result.ok, result.problem
    for gone in ("/mailu", "/etc/pm-mail-infra", "/root/.ssh/authorized_keys", "/home/tenant-x/.ssh/authorized_keys"):
        assert not host.path(gone).exists(), gone
    assert host.path("/etc/pm-victim/authorized_keys").read_bytes() == b"secret-ish\n"  # not followed


def test_wipe_of_unreachable_host_reports_instead_of_raising(admin_key_in_vault: str) -> None:
    result = wipe_host("127.77.255.254", admin_key_in_vault, timeout=1)
    assert not result.ok and "127.77.255.254" in result.problem
    assert "PRIVATE KEY" not in result.problem


def test_copy_streams_mail_and_keeps_numeric_owners(sshhost_factory: Callable[..., Any],
                                                    sshhost_client_key: ClientKey) -> None:
    old, new = sshhost_factory("old"), sshhost_factory("new")
    with _executor(old, sshhost_client_key) as src, _executor(new, sshhost_client_key) as dst:
        src.run("mkdir -p /mailu/mail/user/cur /mailu/data && head -c 300000 /dev/urandom > /mailu/data/blob")
        src.put_file("/mailu/mail/user/cur/1.eml", b"Subject: hello\n\nbody\n", mode=0o640, owner="8", group="12")
        result = copy_mail_data(src, dst)
        assert result.copied and result.bytes_copied > 300000
        assert set(result.paths) == {"/mailu/mail", "/mailu/data"}
        assert dst.read_file("/mailu/mail/user/cur/1.eml") == b"Subject: hello\n\nbody\n"
        stat = dst.file_stats(["/mailu/mail/user/cur/1.eml"])["/mailu/mail/user/cur/1.eml"]
        assert stat is not None and (stat.uid, stat.gid, stat.mode) == (8, 12, 0o640)
        assert dst.file_stats(["/mailu/data/blob"])["/mailu/data/blob"] == \
            src.file_stats(["/mailu/data/blob"])["/mailu/data/blob"]


def test_copy_from_unreachable_host_is_a_warning(sshhost_factory: Callable[..., Any],
                                                 sshhost_client_key: ClientKey) -> None:
    new = sshhost_factory("new")
    gone = SshExecutor("127.77.255.253", sshhost_client_key.private_pem, boot_timeout=1,
                       known_hosts=KnownHosts(trust_on_first_use=True))
    with _executor(new, sshhost_client_key) as dst:
        result = copy_mail_data(gone, dst)
    assert not result.copied and "not reachable" in result.warning
