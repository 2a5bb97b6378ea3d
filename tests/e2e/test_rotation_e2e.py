"""Rotation on a real tenant: provisioned with the real Pulumi engine on the sandbox, rotated with fleet.rotation*,
then converged again with `pulumi up` without undoing anything. Time moves by an injected clock, never by sleeping."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from invoke.context import Context

from dnsrecords import wire
from fleet.audit import AuditLog
from fleet.clock import FrozenClock, SystemClock
from fleet.rotation import RotationError
from fleet.rotation_context import RotationContext
from fleet.rotation_dkim import finish_dkim, rotate_dkim
from fleet.rotation_mailu import admin_marker_is
from fleet.rotation_smtp import rotate_smtp
from fleet.rotation_ssh import finish_ssh, regenerate_ssh, revoke_ssh, rotate_ssh
from mailu.config import MailuConfig
from tasks_lib import rotate as rotate_tasks
from tests.fixtures.tenant import TenantProject
from toolkit import stack_files
from toolkit.redact import Secret
from vault import kv, paths, smtp
from vault.client import VaultClient

ADMIN, TENANT = paths.SshKeyKind.ADMIN, paths.SshKeyKind.TENANT


def _txt(project: TenantProject, name: str) -> str | None:
    record = wire.authoritative_record("127.0.0.1", project.settings.dns_port, name, "TXT")
    return None if record is None else record.values[0]


def _key(vault: VaultClient, path: paths.SecretPath, version: int | None = None) -> Secret:
    return Secret(str(kv.read(vault, path, version).data["private_key"]))


def test_rotation_lifecycle(tenant_project: TenantProject, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project, tenant = tenant_project, "rot"
    project.write_stack(tenant)
    project.init(tenant)
    project.pulumi("up", "--yes", "--skip-preview", stack=tenant)
    outputs = project.outputs(tenant)
    stacks = project.root / "stacks"
    vault = VaultClient.from_env(project.sandbox_env)
    clock = FrozenClock(SystemClock().now())
    audit = AuditLog(tmp_path / "audit.jsonl", clock, actor="e2e")
    ctx = RotationContext(vault=vault, clock=clock, audit=audit, host_of=lambda _c: str(outputs["main_ip"]),
                          stacks_dir=stacks, dns_secret=Secret(project.sandbox_env["PM_DNS_TSIG_SECRET"]),
                          mailu_health_timeout=60)
    config = stack_files.load(stacks, tenant)
    ip, user = str(outputs["main_ip"]), config.tenant_user
    admin_path, tenant_path = paths.admin_ssh(tenant), paths.tenant_ssh(tenant)

    # --- SSH admin key: both keys work during the grace window; after 25 h only the new one.
    old_admin = _key(vault, admin_path)
    rotated = rotate_ssh(ctx, config, ADMIN)
    new_admin = _key(vault, admin_path)
    assert ctx.login_works(ip, old_admin) and ctx.login_works(ip, new_admin)
    assert rotated.fingerprint != rotated.previous_fingerprint
    with pytest.raises(RotationError, match="grace window runs until"):
        finish_ssh(ctx, config, ADMIN)
    clock.advance(hours=25)
    finished = finish_ssh(ctx, config, ADMIN)
    assert finished is not None and ctx.login_works(ip, new_admin) and not ctx.login_works(ip, old_admin)
    assert "grace_until" not in kv.read(vault, admin_path).data

    # --- SSH tenant key: rotate (both work), revoke (gone at once), regenerate (works at once).
    # The sandbox's sshd runs with UsePAM no, where OpenSSH refuses accounts whose password is locked ("!", as
    # useradd leaves it); Ubuntu's sshd (UsePAM yes) lets such accounts log in with a key. Unlock it here only.
    with ctx.connect(ip, new_admin) as host:
        host.run(["usermod", "-p", "*", user])
    old_tenant = _key(vault, tenant_path)
    rotate_ssh(ctx, config, TENANT)
    assert ctx.login_works(ip, _key(vault, tenant_path), user) and ctx.login_works(ip, old_tenant, user)
    current_tenant = _key(vault, tenant_path)
    revoked = revoke_ssh(ctx, config, TENANT, reason="e2e")
    assert not ctx.login_works(ip, current_tenant, user) and not ctx.login_works(ip, old_tenant, user)
    record = kv.read(vault, tenant_path)
    assert record.data["revoked_at"] and "private_key" not in record.data and revoked.version == record.version
    regenerate_ssh(ctx, config, TENANT)
    assert ctx.login_works(ip, _key(vault, tenant_path), user)

    # --- SMTP: Mailu on the host first, then a new Vault version, then verification.
    before = kv.read(vault, paths.smtp_admin(tenant)).version
    smtp_result = rotate_smtp(ctx, config)
    assert smtp_result.version == before + 1 and smtp_result.login.startswith("not verified")
    password = smtp.decrypt_password(vault, tenant)
    with ctx.connect(ip, new_admin) as host:
        assert admin_marker_is(host, MailuConfig.from_tenant_config(config), password)

    # --- DKIM: new selector published and verified, Mailu switched, old record kept 48 h.
    old_selector = config.dkim_selector
    old_value = _txt(project, f"{old_selector}._domainkey.{config.domain}")
    dkim = rotate_dkim(ctx, config)
    domain = config.domain
    new_public = str(kv.read(vault, paths.dkim(domain, dkim.selector)).data["public_key"])
    assert new_public in (_txt(project, f"{dkim.selector}._domainkey.{domain}") or "")
    assert _txt(project, f"{old_selector}._domainkey.{domain}") == old_value
    with ctx.connect(ip, new_admin) as host:
        env = host.read_file("/mailu/mailu.env").decode()
        assert f"DKIM_SELECTOR={dkim.selector}" in env
        assert host.read_file_if_exists(f"/mailu/dkim/{domain}.{dkim.selector}.key") is not None
    assert "antispam" in dkim.restarted
    config = stack_files.load(stacks, tenant)
    assert config.dkim_selector == dkim.selector and [e.selector for e in config.dkim_retired or ()] == [old_selector]

    # --- Pulumi converges without undoing any of it (refresh first: Vault versions moved on).
    project.pulumi("refresh", "--yes", "--skip-preview", stack=tenant)
    project.pulumi("up", "--yes", "--skip-preview", stack=tenant)
    project.pulumi("preview", "--expect-no-changes", stack=tenant)
    after = project.outputs(tenant)
    assert after["dkim_selector"] == dkim.selector
    assert after["admin_ssh_fingerprint"] == finished.fingerprint
    assert kv.read(vault, paths.dkim(domain, dkim.selector)).data["public_key"] == new_public  # not regenerated
    assert new_public in (_txt(project, f"{dkim.selector}._domainkey.{domain}") or "")
    assert _txt(project, f"{old_selector}._domainkey.{domain}") == old_value  # still in its overlap window
    assert ctx.login_works(ip, new_admin) and not ctx.login_works(ip, old_admin)
    assert smtp.decrypt_password(vault, tenant).reveal() == password.reveal()

    # --- rotate.due (the cron task) sees the open DKIM window; at +47 h nothing is removed, past 48 h it is.
    monkeypatch.setenv("VAULT_ADDR", project.sandbox_env["VAULT_ADDR"])
    monkeypatch.setenv("VAULT_TOKEN", project.sandbox_env["VAULT_TOKEN"])
    rotate_tasks.due(Context(), dry_run=True, stacks=str(stacks), audit_log=str(tmp_path / "audit.jsonl"),
                     now=clock.now().isoformat())
    clock.advance(hours=47)
    assert finish_dkim(ctx, config) == []
    assert _txt(project, f"{old_selector}._domainkey.{domain}") == old_value
    clock.advance(hours=2)
    removed = finish_dkim(ctx, config)
    assert [r.selector for r in removed] == [old_selector]
    assert _txt(project, f"{old_selector}._domainkey.{domain}") is None
    assert stack_files.load(stacks, tenant).dkim_retired is None
    project.pulumi("up", "--yes", "--skip-preview", stack=tenant)
    project.pulumi("preview", "--expect-no-changes", stack=tenant)
    assert _txt(project, f"{old_selector}._domainkey.{domain}") is None
    assert new_public in (_txt(project, f"{dkim.selector}._domainkey.{domain}") or "")

    # --- audit trail: our log, and Vault's audit device saw the secret accesses.
    events = [e["event"] for e in audit.read()]
    for event in ("rotate.ssh", "rotate.finish.ssh", "ssh.revoke", "ssh.regenerate", "rotate.smtp", "rotate.dkim",
                  "rotate.finish.dkim", "rotate.due"):
        assert event in events, event
    assert "BEGIN" not in (tmp_path / "audit.jsonl").read_text()
    vault_audit = Path(project.sandbox_env["PM_VAULT_AUDIT_LOG"]).read_text()
    assert f"vps/data/{tenant}/admin_ssh" in vault_audit and f"smtp/data/{tenant}/admin" in vault_audit
    assert yaml.safe_load((stacks / f"Pulumi.{tenant}.yaml").read_text())["config"]["pm:dkim_selector"] == dkim.selector
    json.dumps(audit.read())
    project.pulumi("destroy", "--yes", "--skip-preview", stack=tenant)
    vault.close()
