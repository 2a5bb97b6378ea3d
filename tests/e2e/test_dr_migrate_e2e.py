"""`dr.migrate` end to end with the real engine on the sandbox: every reason, a crash after every step, a kill in
the middle of `pulumi up`. After each: exactly one VPS, DNS and PTR at it, secret versions never go back, the stack
file untouched (the migration lives in the tenant's intent in Vault) and the stack converged."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import time
from typing import Any

import dns.message
import dns.query
import dns.rdatatype
import hvac
import pytest

from fleet.intent import fresh_selector
from fleet.migrate_journal import CRASH_EXIT_CODE, STEPS
from sandbox.hostwinds_sim.process import AdminClient
from tests.e2e.day2 import kill_everything
from tests.fixtures.tenant import TenantProject, run_migrate, start_migrate
from toolkit.ssh import KnownHosts, SshExecutor

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]  # a migration with crashes after every step: minutes
MARKER = "/mailu/mail/pm-migration-marker.txt"
SECRETS = (("vps", "admin_ssh"), ("vps", "tenant_ssh"), ("smtp", "admin"), ("smtp", "mailu"))


# --- helpers ------------------------------------------------------------------------------------------------------

def _admin(project: TenantProject) -> AdminClient:
    return AdminClient(project.sandbox_env["HOSTWINDS_API_URL"].split("/cloud/")[0],
                       project.sandbox_env["HOSTWINDS_API_KEY"])


def _instances(project: TenantProject, tenant: str) -> list[dict[str, Any]]:
    return [i for i in _admin(project).instances() if str(i.get("srvrname", "")).startswith(f"pm-{tenant}-")]


def _a(project: TenantProject, name: str) -> list[str]:
    reply = dns.query.tcp(dns.message.make_query(name, "A"), "127.0.0.1", port=project.settings.dns_port, timeout=5)
    return [r.address for rrset in reply.answer if rrset.rdtype == dns.rdatatype.A for r in rrset]


def _txt(project: TenantProject, name: str) -> list[str]:
    reply = dns.query.tcp(dns.message.make_query(name, "TXT"), "127.0.0.1", port=project.settings.dns_port,
                          timeout=5)
    return [b"".join(r.strings).decode() for rrset in reply.answer for r in rrset]


def _vault(project: TenantProject) -> hvac.Client:
    return hvac.Client(project.sandbox_env["VAULT_ADDR"], token=project.sandbox_env["VAULT_TOKEN"])


def _versions(project: TenantProject, tenant: str) -> dict[str, int]:
    vault = _vault(project)
    out = {}
    for mount, name in SECRETS:
        meta = vault.secrets.kv.v2.read_secret_metadata(path=f"{tenant}/{name}", mount_point=mount)
        out[f"{mount}/{name}"] = int(meta["data"]["current_version"])
    return out


def _journal(project: TenantProject, tenant: str) -> dict[str, Any]:
    reply = _vault(project).secrets.kv.v2.read_secret_version(path=f"{tenant}/migration", mount_point="vps",
                                                              raise_on_deleted_version=True)
    return dict(reply["data"]["data"])


def _intent(project: TenantProject, tenant: str) -> dict[str, Any]:
    reply = _vault(project).secrets.kv.v2.read_secret_version(path=f"{tenant}/intent", mount_point="vps",
                                                              raise_on_deleted_version=True)
    return dict(reply["data"]["data"])


def _dkim_state(project: TenantProject, domain: str, selector: str) -> str:
    reply = _vault(project).secrets.kv.v2.read_secret_version(path=f"{domain}/{selector}", mount_point="dkim",
                                                              raise_on_deleted_version=True)
    return str(reply["data"]["data"].get("state", ""))


def _stack_file(project: TenantProject, tenant: str) -> bytes:
    return (project.root / "stacks" / f"Pulumi.{tenant}.yaml").read_bytes()


def _converged(project: TenantProject, tenant: str) -> None:
    """`pulumi preview --expect-no-changes` exits 0 and `pulumi up --refresh --yes` reports no changes."""
    project.pulumi("preview", "--expect-no-changes", "--diff", stack=tenant)
    up = project.pulumi("up", "--refresh", "--yes", "--skip-preview", "--expect-no-changes", stack=tenant)
    assert re.search(r"\d+ (created|updated|deleted|replaced)", up.stdout) is None, up.stdout[-3000:]


def _ssh(project: TenantProject, tenant: str, ip: str) -> SshExecutor:
    key = _vault(project).secrets.kv.v2.read_secret_version(path=f"{tenant}/admin_ssh", mount_point="vps",
                                                            raise_on_deleted_version=True)
    return SshExecutor(ip, key["data"]["data"]["private_key"], known_hosts=KnownHosts(trust_on_first_use=True),
                       boot_timeout=30)


def _deploy(project: TenantProject, tenant: str) -> dict[str, Any]:
    project.write_stack(tenant)
    project.init(tenant)
    first = project.pulumi("up", "--yes", "--skip-preview", stack=tenant, check=False)
    if first.returncode != 0 and "apex-mx" in first.stdout:
        # Known race outside this feature: BIND refuses the MX while the A it points at is created in parallel
        # ("has no address records"); a second `up` converges. Reported to the DNS component's owner.
        project.pulumi("up", "--yes", "--skip-preview", stack=tenant)
    elif first.returncode != 0:
        raise AssertionError(first.stdout[-6000:] + first.stderr[-3000:])
    return project.outputs(tenant)


def _assert_migrated(project: TenantProject, tenant: str, before: dict[str, Any], generation: int,
                     stack_file: bytes) -> dict[str, Any]:
    """One VPS (the new generation), A/SPF/PTR at it, the stack file untouched, the stack clean and converged."""
    after = project.outputs(tenant)
    domain = f"{tenant}.{project.settings.zone}"
    live = _instances(project, tenant)
    assert [i["srvrname"] for i in live] == [f"pm-{tenant}-{generation}"], live
    assert str(live[0]["serviceid"]) == after["serviceid"] != before["serviceid"]
    assert _a(project, f"mail.{domain}") == [after["main_ip"]]
    assert f"ip4:{after['main_ip']} " in _txt(project, domain)[0] + " "
    assert live[0]["ips"] == [after["main_ip"]] and live[0]["rdns"] == {after["main_ip"]: f"mail.{domain}"}
    assert _stack_file(project, tenant) == stack_file  # the migration never edits the stack file
    intent = _intent(project, tenant)
    assert intent["vps_generation"] == generation and intent.get("copy_from") is None
    assert after["vps_label"] == f"pm-{tenant}-{generation}"
    assert _journal(project, tenant)["state"] == "done"
    assert _journal(project, tenant)["steps"]["cleaned_up"]["converged"] is True
    project.pulumi("preview", "--expect-no-changes", stack=tenant)
    return after


def _grew_or_kept(old: dict[str, int], new: dict[str, int]) -> None:
    for path, version in old.items():
        assert new[path] >= version, (path, version, new[path])


# --- tests --------------------------------------------------------------------------------------------------------

def test_failure_copies_mail_and_keeps_secrets(tenant_project: TenantProject) -> None:
    project, tenant = tenant_project, "fail"
    before = _deploy(project, tenant)
    versions, stack_file = _versions(project, tenant), _stack_file(project, tenant)
    with _ssh(project, tenant, before["main_ip"]) as old_host:
        old_host.put_file(MARKER, b"mail from before the failure\n", mode=0o644)

    result = run_migrate(project, tenant, "--reason", "failure")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    after = _assert_migrated(project, tenant, before, generation=2, stack_file=stack_file)

    assert _versions(project, tenant) == versions  # failure: secrets kept, not rotated
    assert after["dkim_selector"] == before["dkim_selector"]
    with _ssh(project, tenant, after["main_ip"]) as new_host:
        assert new_host.read_file(MARKER) == b"mail from before the failure\n"
    journal = _journal(project, tenant)
    assert journal["steps"]["deployed"]["mail_copied"] is True
    assert any("wiped before terminate" in n for n in journal["steps"]["deployed"]["notes"]), journal["steps"]
    assert "mail_data_copy" not in after  # the copy resource went away with the cleanup
    event = json.loads((project.root / "audit.jsonl").read_text().splitlines()[-1])
    assert event["event"] == "vps.migrated" and event["tenant"] == tenant and event["outcome"] == "done"
    details = event["details"]
    assert details["reason"] == "failure" and details["burned"] == {}
    assert details["new"]["ip"] == after["main_ip"] and details["tool_seconds"] > 0
    assert "recovery time" in result.stdout
    assert "PRIVATE KEY" not in result.stdout + result.stderr


def test_compromise_burns_host_secrets(tenant_project: TenantProject) -> None:
    project, tenant = tenant_project, "comp"
    before = _deploy(project, tenant)
    versions, stack_file = _versions(project, tenant), _stack_file(project, tenant)
    domain, old = f"{tenant}.{project.settings.zone}", str(before["dkim_selector"])
    assert _txt(project, f"{old}._domainkey.{domain}") and _dkim_state(project, domain, old) == "active"
    with _ssh(project, tenant, before["main_ip"]) as old_host:
        old_host.put_file(MARKER, b"possibly tampered\n", mode=0o644)

    result = run_migrate(project, tenant, "--reason", "compromise")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    after = _assert_migrated(project, tenant, before, generation=2, stack_file=stack_file)

    expected = fresh_selector(dt.datetime.now(dt.UTC).date(), {old})
    assert after["dkim_selector"] == expected != old
    assert _txt(project, f"{expected}._domainkey.{domain}")
    assert _txt(project, f"{old}._domainkey.{domain}") == []  # burned: unpublished at the authoritative server
    assert _dkim_state(project, domain, old) == "compromised"
    assert _dkim_state(project, domain, expected) == "active"
    intent = _intent(project, tenant)
    assert intent["dkim"]["selector"] == expected and intent["dkim"]["burned"] == [old]
    assert intent["dkim"]["retired"] == [] and intent["smtp_generation"] == intent["secret_key_generation"] == 2
    now = _versions(project, tenant)
    assert now["smtp/admin"] > versions["smtp/admin"] and now["smtp/mailu"] > versions["smtp/mailu"]
    assert now["vps/admin_ssh"] == versions["vps/admin_ssh"]
    with _ssh(project, tenant, after["main_ip"]) as new_host:
        assert new_host.read_file_if_exists(MARKER) is None  # nothing copied from a compromised host
    burned = json.loads((project.root / "audit.jsonl").read_text().splitlines()[-1])["details"]["burned"]
    assert burned["dkim_selectors"] == [old] and burned["dkim"] == [f"dkim/{domain}/{old}"]
    assert burned["smtp_admin_version"] == versions["smtp/admin"]
    assert burned["mailu_secret_key_version"] == versions["smtp/mailu"] and burned["host"] == before["main_ip"]

    _converged(project, tenant)  # nothing left for the engine to do, even after reading the world again
    assert _txt(project, f"{old}._domainkey.{domain}") == [] and _dkim_state(project, domain, old) == "compromised"
    project.pulumi("destroy", "--yes", "--skip-preview", stack=tenant)
    for selector in (old, expected):
        assert _txt(project, f"{selector}._domainkey.{domain}") == [], selector


def test_upgrade_with_unreachable_old_host_still_completes(tenant_project: TenantProject) -> None:
    project, tenant = tenant_project, "upgr"
    before = _deploy(project, tenant)
    stack_file = _stack_file(project, tenant)
    # The old host stops answering SSH (sshd gone); the API still knows it.
    from components.hostwinds_instance import client_from

    os.environ.setdefault("HOSTWINDS_API_KEY", project.sandbox_env["HOSTWINDS_API_KEY"])
    client_from({"api_url": project.sandbox_env["HOSTWINDS_API_URL"]}).power(before["serviceid"], "shutdown")
    deadline = time.monotonic() + 60
    while _instances(project, tenant)[0]["power_state"] != 4 and time.monotonic() < deadline:
        time.sleep(0.2)

    result = run_migrate(project, tenant, "--reason", "upgrade")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    _assert_migrated(project, tenant, before, generation=2, stack_file=stack_file)
    deployed = _journal(project, tenant)["steps"]["deployed"]
    assert deployed["mail_copied"] is False
    assert any("not copied" in w or "not reachable" in w for w in deployed["warnings"]), deployed["warnings"]
    assert any("not wiped" in w for w in deployed["warnings"]), deployed["warnings"]  # terminated anyway


def test_crash_after_every_step_then_rerun_completes(tenant_project: TenantProject) -> None:
    project, tenant = tenant_project, "crash"
    before = _deploy(project, tenant)
    versions, stack_file = _versions(project, tenant), _stack_file(project, tenant)
    generation = 1
    for step in STEPS[:-1]:
        generation += 1
        crashed = run_migrate(project, tenant, "--reason", "failure", PM_DR_CRASH_AFTER=step)
        assert crashed.returncode == CRASH_EXIT_CODE, (step, crashed.stdout[-3000:], crashed.stderr[-3000:])
        assert _journal(project, tenant)["state"] == "running"
        assert step in _journal(project, tenant)["steps"]
        resumed = run_migrate(project, tenant)  # no --reason: resumes the migration in progress
        assert resumed.returncode == 0, (step, resumed.stdout[-4000:], resumed.stderr[-4000:])
        before = _assert_migrated(project, tenant, before, generation=generation, stack_file=stack_file)
        now = _versions(project, tenant)
        _grew_or_kept(versions, now)
        versions = now
        assert len(_journal(project, tenant)["runs"]) == 2


def test_kill_during_pulumi_up_then_rerun_completes(tenant_project: TenantProject) -> None:
    project, tenant = tenant_project, "kill"
    before = _deploy(project, tenant)
    versions, stack_file = _versions(project, tenant), _stack_file(project, tenant)
    process = start_migrate(project, tenant, "--reason", "compromise")
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and process.poll() is None:
            if any(i["srvrname"] == f"pm-{tenant}-2" for i in _instances(project, tenant)):
                break
            time.sleep(0.05)
        assert process.poll() is None, process.communicate()[0][-4000:]
    finally:
        kill_everything(process, project)  # the task, the pulumi CLI, the language host, the providers
    assert len(_instances(project, tenant)) == 2  # the new VPS exists; the state may not know it yet

    resumed = run_migrate(project, tenant)
    assert resumed.returncode == 0, resumed.stdout[-4000:] + resumed.stderr[-4000:]
    after = _assert_migrated(project, tenant, before, generation=2, stack_file=stack_file)
    _grew_or_kept(versions, _versions(project, tenant))
    assert after["dkim_selector"] != before["dkim_selector"]
    assert _intent(project, tenant)["dkim"]["burned"] == [before["dkim_selector"]]
    repairs = " ".join(_journal(project, tenant).get("repairs", []))
    assert "pending operation" in repairs, (repairs, resumed.stdout[-3000:])
