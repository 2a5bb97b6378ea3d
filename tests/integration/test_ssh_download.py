"""`invoke ssh.download` / `ssh.unwrap` on a real OpenBao: the tenant key handed over once, recorded where only the
system side writes, opened once into a 0600 file, refused a second time, expiring with its TTL; audit events on both
sides and Vault's audit device recording the wrapped read."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

from fleet.intent import DkimIntent, PendingOp, SshIntent, TenantIntent, save
from tasks_lib import ssh as ssh_tasks
from tests.handover_env import Handovers, handovers, new_tenant
from vault import handover, keys, kv, wrapping
from vault.client import VaultClient

__all__ = ["handovers"]


def _unwrap(h: Handovers, tenant: str, token: str, out: Path) -> str:
    return h.run(ssh_tasks.unwrap, tenant, out=str(out), stdin=token + "\n")


def _secret_free(text: str, private_key: str) -> None:
    assert "PRIVATE KEY" not in text
    for line in private_key.splitlines()[1:-1]:
        assert line not in text


def test_download_opens_once_into_a_new_0600_file_and_is_recorded(handovers: Handovers, tmp_path: Path) -> None:
    h, tenant = handovers, new_tenant()
    private = h.provision(tenant)
    token = h.download(tenant)
    download_output = h.last_output
    assert f"vps/{tenant}/tenant_ssh v1 handed over by operator-test" in " ".join(download_output.split())
    assert f"invoke ssh.unwrap --tenant {tenant}" in download_output

    out = tmp_path / "keys" / "id"
    out.parent.mkdir(mode=0o700)
    unwrap_output = _unwrap(h, tenant, token, out)
    assert out.read_text() == private
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert "log in as tenant-" in unwrap_output

    again = h.refused(ssh_tasks.unwrap, tenant, out=str(tmp_path / "keys" / "id2"), stdin=token + "\n")
    assert "already used" in again
    assert f"invoke ssh.revoke --tenant {tenant} --kind tenant" in again
    assert f"invoke ssh.regenerate --tenant {tenant} --kind tenant" in again
    assert not (tmp_path / "keys" / "id2").exists()

    record = handover.load(h.system, tenant)
    [given] = record.handovers
    assert (given.secret, given.version, given.by) == (f"vps/{tenant}/tenant_ssh", 1, "operator-test")
    events = h.events()
    assert [(e["event"], e["outcome"]) for e in events] == [
        ("ssh.download", "ok"), ("ssh.unwrap", "ok"), ("ssh.unwrap", "refused")]
    assert events[0]["details"]["accessor"] == given.accessor == events[1]["details"]["accessor"]
    assert events[0]["details"]["version"] == events[1]["details"]["version"] == 1
    assert events[1]["details"]["path"] == f"vps/{tenant}/tenant_ssh"
    audit_text = h.audit_log.read_text()
    assert token not in audit_text and token not in unwrap_output
    for text in (audit_text, download_output, unwrap_output, again):
        _secret_free(text, private)


def test_a_second_download_is_refused_until_forced_with_a_reason_or_regenerated(handovers: Handovers) -> None:
    h, tenant = handovers, new_tenant()
    h.provision(tenant)
    h.download(tenant)
    before = kv.current_version(h.system, handover.record_path(tenant))

    refused = h.refused(ssh_tasks.download, tenant, work_dir=str(h.root))
    assert f"vps/{tenant}/tenant_ssh v1 was already handed over" in refused
    assert "--force --reason" in refused and "someone else opened the token" in refused
    assert "--reason" in h.refused(ssh_tasks.download, tenant, work_dir=str(h.root), force=True)
    assert kv.current_version(h.system, handover.record_path(tenant)) == before

    h.download(tenant, force=True, reason="token expired before the tenant used it")
    record = handover.load(h.system, tenant)
    assert [g.override_reason for g in record.handovers] == ["", "token expired before the tenant used it"]
    override = h.events()[-1]
    assert override["outcome"] == "ok_override"
    assert override["details"]["override_reason"] == "token expired before the tenant used it"
    assert override["details"]["previous"][0]["accessor"] == record.handovers[0].accessor

    keys.store_ssh_keypair(h.system, tenant, "tenant_ssh", algorithm="ed25519")  # what ssh.regenerate writes
    h.download(tenant)
    assert [g.version for g in handover.load(h.system, tenant).handovers] == [1, 1, 2]


def test_the_token_expires_after_its_ttl(handovers: Handovers, vault_root: VaultClient, tmp_path: Path) -> None:
    h, tenant = handovers, new_tenant()
    h.provision(tenant)
    token = h.download(tenant, ttl=1)
    found = wrapping.lookup(vault_root, token)
    assert found is not None and found["creation_ttl"] == 1
    deadline = time.monotonic() + 30
    while wrapping.lookup(vault_root, token) is not None:  # Vault itself says when it is gone: no timing guess
        assert time.monotonic() < deadline, "a 1 s wrapping token still existed after 30 s"
    out = tmp_path / "id"
    assert "already used, has expired" in h.refused(ssh_tasks.unwrap, tenant, out=str(out), stdin=token + "\n")
    assert not out.exists()


def test_refusals_before_anything_is_handed_over(handovers: Handovers, tmp_path: Path) -> None:
    h = handovers
    unknown = new_tenant()
    assert "no stack file" in h.refused(ssh_tasks.download, unknown, work_dir=str(h.root))
    h.declare(unknown)
    assert "never provisioned" in h.refused(ssh_tasks.download, unknown, work_dir=str(h.root))
    assert kv.current_version(h.system, handover.record_path(unknown)) == 0

    revoked, busy = new_tenant(), new_tenant()
    for tenant in (revoked, busy):
        h.provision(tenant)
    save(h.system, TenantIntent(revoked, DkimIntent("pm20261125", "n1"), tenant_ssh=SshIntent(revoked=True)))
    save(h.system, TenantIntent(busy, DkimIntent("pm20261125", "n2"),
                                pending=PendingOp("rotate.ssh.tenant_ssh", "op1", "2026-11-29T10:00:00Z")))
    assert f"invoke ssh.regenerate --tenant {revoked} --kind tenant" in h.refused(
        ssh_tasks.download, revoked, work_dir=str(h.root))
    assert "rotate.ssh.tenant_ssh has been in progress" in h.refused(ssh_tasks.download, busy, work_dir=str(h.root))
    for tenant in (unknown, revoked, busy):
        assert kv.current_version(h.system, handover.record_path(tenant)) == 0
    assert [e["outcome"] for e in h.events()] == ["refused"] * 4


def test_unwrap_never_writes_through_a_link_or_over_a_file_and_keeps_the_token(
        handovers: Handovers, tmp_path: Path) -> None:
    h, tenant = handovers, new_tenant()
    private = h.provision(tenant)
    token = h.download(tenant)
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    link = tmp_path / "link"
    link.symlink_to(victim)
    for out, what in ((victim, "a file"), (link, "a symbolic link"), (tmp_path / "nodir" / "id", "not a directory")):
        assert what in h.refused(ssh_tasks.unwrap, tenant, out=str(out), stdin=token + "\n")
    assert victim.read_text() == "precious\n" and os.readlink(link) == str(victim)
    out = tmp_path / "id"
    _unwrap(h, tenant, token, out)  # the refusals above never spent the token
    assert out.read_text() == private


def test_vault_audit_device_records_the_wrapped_read_and_its_unwrap(handovers: Handovers, vault_root: VaultClient,
                                                                     tmp_path: Path) -> None:
    h, tenant = handovers, new_tenant()
    private = h.provision(tenant)
    _unwrap(h, tenant, h.download(tenant), tmp_path / "id")
    record = handover.load(h.system, tenant).handovers[0]
    hashed = (vault_root.write("sys/audit-hash/file", {"input": record.accessor}) or {})["data"]["hash"]
    entries = [json.loads(line) for line in h.server.audit_log.read_text().splitlines()]
    wrapped_reads = [e for e in entries if e["type"] == "response" and e["request"]["path"] == record.secret.replace(
        "vps/", "vps/data/", 1) and (e["response"].get("wrap_info") or {}).get("accessor") == hashed]
    assert len(wrapped_reads) == 1, "Vault's audit device records the wrapped read under the recorded accessor"
    assert wrapped_reads[0]["request"]["wrap_ttl"] == 900
    assert wrapped_reads[0]["auth"]["policies"] == ["default", "system"]
    unwraps = [e for e in entries if e["type"] == "response" and e["request"]["path"] == "sys/wrapping/unwrap"
               and e["request"]["client_token_accessor"] == hashed]
    assert len(unwraps) == 1, "and the one unwrap of that token"
    _secret_free(h.server.audit_log.read_text(), private)
