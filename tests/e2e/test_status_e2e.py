"""`invoke status` on a tenant provisioned with the real engine on the sandbox: every column, then breakage.

Provision one tenant (TenantProject), check every cell of its status (outputs read with `pulumi stack output`,
label fallback, keys from Vault, backups from a store, DNS from the authoritative server, Vault health, the
certificate over SSH), then delete a DNS record through the provider and stop the VPS in the simulator and see
both reported as critical, in the logic and through the invoke task (JSON, exit code 2).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from invoke.context import Context
from invoke.exceptions import Exit

from dnsrecords.providers.registry import make_provider
from dnsrecords.records import Record
from fleet.status import FleetStatus, Severity, StatusSettings, collect
from fleet.verify import dns_settings
from sandbox.hostwinds_sim.process import AdminClient
from tests.fixtures.tenant import TenantProject
from tests.unit.test_status_thresholds import make_certificate
from toolkit import stack_files
from toolkit.ssh import KnownHosts, SshExecutor
from vault import keys, paths
from vault.backup.manifest import backup_name, blob_key, manifest_key
from vault.backup.stores import LocalStore
from vault.client import VaultClient
from vault.config import VaultConfig


def _status(project: TenantProject, backups: Path, *, outputs: bool = True,
            tls_ports: tuple[int, ...] = (443, 465, 993)) -> FleetStatus:
    settings = StatusSettings(stacks_dir=project.root / "stacks", env=project.env,
                              work_dir=project.root if outputs else None, backup_dest=str(backups),
                              tls_ports=tls_ports)
    return collect(settings)


def test_status_of_a_live_tenant(tenant_project: TenantProject, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    project, tenant = tenant_project, "stat"
    project.write_stack(tenant)
    project.init(tenant)
    project.pulumi("up", "--yes", "--skip-preview", stack=tenant)
    try:
        outputs = project.outputs(tenant)
        config = stack_files.load(project.root / "stacks", tenant)
        backups = tmp_path / "backups"
        store = LocalStore(backups)
        name = backup_name(datetime.now(UTC) - timedelta(hours=2))
        store.put_bytes(blob_key(name), b"blob")
        store.put_bytes(manifest_key(name), b"{}")

        # ---- everything healthy
        result = _status(project, backups)
        assert [t.tenant for t in result.tenants] == [tenant]
        cells = result.tenants[0].cells
        assert {n: c.severity for n, c in cells.items()} == {
            "vps": Severity.OK, "keys": Severity.OK, "backup": Severity.OK, "dns": Severity.OK,
            "vault": Severity.OK, "certificate": Severity.OK}, {n: c.summary for n, c in cells.items()}
        vps = cells["vps"].details
        assert vps["source"] == "stack outputs" and vps["serviceid"] == str(outputs["serviceid"])
        assert vps["main_ip"] == outputs["main_ip"] and vps["label"] == config.vps_label and vps["label_matches"]
        assert vps["status"] == "ACTIVE"
        found = {k["name"]: k for k in cells["keys"].details["keys"]}
        assert sorted(found) == ["admin_ssh", "dkim", "smtp", "tenant_ssh"]
        assert {n: k["period_days"] for n, k in found.items()} == {
            "admin_ssh": 90, "tenant_ssh": 90, "smtp": 180, "dkim": 365}
        assert all(k["severity"] == "ok" and k["age_days"] < 1 for k in found.values())
        assert found["dkim"]["path"] == f"dkim/{config.domain}/{config.dkim_selector}"
        assert cells["backup"].details["backups"] == 1 and cells["backup"].details["alert"] is False
        assert cells["dns"].details["problems"] == [] and cells["dns"].details["checks"] >= 12
        assert cells["vault"].details["active"] == 1 and cells["vault"].details["sealed"] == 0
        # the certificate the mail host serves (the sandbox's listeners: self-signed for HOSTNAMES, 90 days)
        assert cells["certificate"].details["covers_host"] and cells["certificate"].details["days_left"] > 80
        assert result.exit_code == 0
        assert "PRIVATE KEY" not in json.dumps(result.to_json())

        # ---- without stack outputs the VPS is found by its Hostwinds label
        by_label = _status(project, backups, outputs=False).tenants[0].cells["vps"]
        assert by_label.severity is Severity.OK and by_label.details["source"].startswith("label lookup")
        assert by_label.details["serviceid"] == str(outputs["serviceid"])

        # ---- without a TLS answer, the certificate file on the VPS is read over SSH with the admin key from Vault
        vault = VaultClient(VaultConfig.from_env(project.sandbox_env))
        admin_key = keys.read_private(vault, paths.admin_ssh(tenant))
        expiry = (datetime.now(UTC) + timedelta(days=5)).replace(microsecond=0)
        with SshExecutor(outputs["main_ip"], admin_key, known_hosts=KnownHosts(trust_on_first_use=True)) as ssh:
            ssh.run(["mkdir", "-p", "/mailu/certs"])
            ssh.put_file("/mailu/certs/cert.pem", make_certificate(expiry, (config.mail_host,)), mode=0o644)
        cert = _status(project, backups, tls_ports=()).tenants[0].cells["certificate"]
        assert cert.severity is Severity.CRITICAL and cert.details["threshold_days"] == 7
        assert cert.details["not_after"] == expiry.isoformat().replace("+00:00", "Z")
        assert cert.details["covers_host"] is True

        # ---- break things: no backups, a DNS record deleted through the provider, the VPS stopped
        for item in backups.iterdir():
            item.unlink()
        provider = make_provider("rfc2136", dns_settings(config), secret=project.sandbox_env["PM_DNS_TSIG_SECRET"])
        mail_a = provider.get(config.mail_host, "A")
        assert mail_a is not None
        provider.delete(Record(mail_a.name, "A", mail_a.ttl, mail_a.values))
        admin = AdminClient(project.sandbox_env["HOSTWINDS_API_URL"].split("/cloud/")[0],
                            project.sandbox_env["HOSTWINDS_API_KEY"])
        admin.patch_instance(outputs["serviceid"], status="STOPPED")

        broken = _status(project, backups)
        cells = broken.tenants[0].cells
        assert cells["vps"].severity is Severity.CRITICAL and cells["vps"].details["status"] == "STOPPED"
        assert cells["dns"].severity is Severity.CRITICAL
        problems = cells["dns"].details["problems"]
        assert any(p["status"] == "missing" and config.mail_host in p["subject"] for p in problems), problems
        assert cells["backup"].severity is Severity.CRITICAL and cells["backup"].summary == "no backup"
        assert cells["keys"].severity is Severity.OK and cells["vault"].severity is Severity.OK
        assert broken.exit_code == 2 and broken.summary()["tenants"]["critical"] == 1

        # ---- the invoke task: JSON for machines, exit code 2 when critical
        from tasks_lib.status import status as status_task

        for key, value in project.env.items():
            monkeypatch.setenv(key, value)
        with pytest.raises(Exit) as exit_info:
            status_task(Context(), tenant=tenant, json=True, stacks_dir=str(project.root / "stacks"),
                        work_dir=str(project.root), backup_dest=str(backups))
        assert exit_info.value.code == 2
        printed = capsys.readouterr().out
        document = json.loads(printed)
        assert document["tenants"][0]["checks"]["dns"]["severity"] == "critical"
        assert document["summary"]["tenants"]["critical"] == 1
        for secret_name in ("HOSTWINDS_API_KEY", "VAULT_TOKEN", "PM_DNS_TSIG_SECRET"):
            assert project.sandbox_env[secret_name] not in printed
        with pytest.raises(Exit):
            status_task(Context(), stacks_dir=str(project.root / "stacks"), work_dir=str(project.root),
                        backup_dest=str(backups))
        table = capsys.readouterr().out
        assert tenant in table and "STOPPED" in table and "1 critical" in table
    finally:
        AdminClient(project.sandbox_env["HOSTWINDS_API_URL"].split("/cloud/")[0],
                    project.sandbox_env["HOSTWINDS_API_KEY"]).patch_instance(
            project.outputs(tenant)["serviceid"], status="ACTIVE")
        project.pulumi("destroy", "--yes", "--skip-preview", stack=tenant, check=False)
