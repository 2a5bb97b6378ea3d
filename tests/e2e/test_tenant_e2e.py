"""`pulumi up` of whole tenants with the real engine on the sandbox: the product's main job."""

from __future__ import annotations

import json
import re

import dns.message
import dns.query
import dns.rdatatype
import hvac

from sandbox.hostwinds_sim.process import AdminClient
from tests.fixtures.tenant import TenantProject

PEM = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")


def _txt(project: TenantProject, name: str) -> list[str]:
    query = dns.message.make_query(name, "TXT")
    reply = dns.query.tcp(query, "127.0.0.1", port=project.settings.dns_port, timeout=5)
    return [b"".join(r.strings).decode() for rrset in reply.answer for r in rrset]


def _a(project: TenantProject, name: str) -> list[str]:
    reply = dns.query.tcp(dns.message.make_query(name, "A"), "127.0.0.1", port=project.settings.dns_port, timeout=5)
    return [r.address for rrset in reply.answer if rrset.rdtype == dns.rdatatype.A for r in rrset]


def _instances(project: TenantProject, label_prefix: str) -> list[dict[str, object]]:
    admin = AdminClient(project.sandbox_env["HOSTWINDS_API_URL"].split("/cloud/")[0],
                        project.sandbox_env["HOSTWINDS_API_KEY"])
    return [i for i in admin.instances() if str(i.get("srvrname", "")).startswith(label_prefix)]


def _changes(result_stdout: str) -> str:
    return result_stdout[result_stdout.rfind("Resources:"):]


def test_tenant_lifecycle(tenant_project: TenantProject) -> None:
    project, tenant = tenant_project, "acme"
    project.write_stack(tenant)
    project.init(tenant)

    up = project.pulumi("up", "--yes", "--skip-preview", stack=tenant)
    outputs = project.outputs(tenant)
    domain = f"{tenant}.{project.settings.zone}"
    assert outputs["mail_host"] == f"mail.{domain}" and outputs["verification_checks"] >= 12
    assert _a(project, f"mail.{domain}") == [outputs["main_ip"]]
    assert f"ip4:{outputs['main_ip']}" in _txt(project, domain)[0]
    assert len(_instances(project, f"pm-{tenant}-")) == 1

    # Only public facts in state: no private key, no Hostwinds key, no Vault token, no TSIG secret.
    state = json.dumps(project.export(tenant))
    assert not PEM.search(state)
    for secret_name in ("HOSTWINDS_API_KEY", "VAULT_TOKEN", "PM_DNS_TSIG_SECRET"):
        assert project.sandbox_env[secret_name] not in state, secret_name
    assert not PEM.search(up.stdout + up.stderr)

    # A second run changes nothing; refresh finds no drift.
    project.pulumi("preview", "--expect-no-changes", stack=tenant)
    project.pulumi("refresh", "--yes", "--skip-preview", stack=tenant)
    project.pulumi("preview", "--expect-no-changes", stack=tenant)

    # A DMARC stage change updates only the DMARC record (and re-verifies), nothing else.
    project.write_stack(tenant, dmarc_stage="quarantine")
    preview = project.pulumi("preview", "--json", stack=tenant)
    steps = json.loads(preview.stdout)["steps"]
    changed = sorted({s["urn"].split("::")[-1] for s in steps if s["op"] not in ("same", "read")})
    assert changed == [f"{tenant}-dns-_dmarc-txt", f"{tenant}-verify"], changed
    project.pulumi("up", "--yes", "--skip-preview", stack=tenant)
    assert "p=quarantine" in _txt(project, f"_dmarc.{domain}")[0]
    project.pulumi("preview", "--expect-no-changes", stack=tenant)

    # destroy removes the VPS and the DNS records, and keeps the Vault secrets (audit) by default.
    project.pulumi("destroy", "--yes", "--skip-preview", stack=tenant)
    assert _instances(project, f"pm-{tenant}-") == []
    assert _a(project, f"mail.{domain}") == []
    assert _txt(project, f"_dmarc.{domain}") == []
    vault = hvac.Client(project.sandbox_env["VAULT_ADDR"], token=project.sandbox_env["VAULT_TOKEN"])
    kept = vault.secrets.kv.v2.read_secret_version(path=f"{tenant}/admin_ssh", mount_point="vps",
                                                    raise_on_deleted_version=True)
    assert kept["data"]["data"]["public_key"]
    # ... and its ownership claims with them: no other stack may take the tenant id or the domain meanwhile.
    assert domain in vault.secrets.kv.v2.list_secrets(path="domain", mount_point="claims")["data"]["keys"]
    assert tenant in vault.secrets.kv.v2.list_secrets(path="tenant", mount_point="claims")["data"]["keys"]


def test_two_tenants_share_nothing_and_purge_on_destroy(tenant_project: TenantProject) -> None:
    project = tenant_project
    for tenant in ("north", "south"):
        project.write_stack(tenant, purge_secrets_on_destroy=True)
        project.init(tenant)
        project.pulumi("up", "--yes", "--skip-preview", stack=tenant)
    north, south = project.outputs("north"), project.outputs("south")
    assert north["serviceid"] != south["serviceid"] and north["main_ip"] != south["main_ip"]
    assert north["admin_ssh_fingerprint"] != south["admin_ssh_fingerprint"]
    assert north["vault"]["admin_ssh"]["path"] == "vps/north/admin_ssh"
    assert south["vault"]["dkim"]["path"].startswith("dkim/south.")

    project.pulumi("destroy", "--yes", "--skip-preview", stack="north")
    assert len(_instances(project, "pm-south-")) == 1  # the other tenant is untouched
    project.pulumi("preview", "--expect-no-changes", stack="south")
    vault = hvac.Client(project.sandbox_env["VAULT_ADDR"], token=project.sandbox_env["VAULT_TOKEN"])
    claimed = {folder: vault.secrets.kv.v2.list_secrets(path=folder, mount_point="claims")["data"]["keys"]
               for folder in ("domain", "tenant")}
    assert "north" not in claimed["tenant"] and "south" in claimed["tenant"]  # purge released north's claims
    assert f"north.{project.settings.zone}" not in claimed["domain"]
    assert "north/" not in (vault.secrets.kv.v2.list_secrets(path="", mount_point="vps")["data"]["keys"])
    project.pulumi("destroy", "--yes", "--skip-preview", stack="south")


def test_bad_config_creates_nothing(tenant_project: TenantProject) -> None:
    project = tenant_project
    project.write_stack("broken")
    path = project.root / "stacks" / "Pulumi.broken.yaml"
    path.write_text(path.read_text().replace("pm:ttl: 3600", "pm:ttl: 5\n  pm:colour: blue"))
    project.init("broken")
    result = project.pulumi("up", "--yes", "--skip-preview", stack="broken", check=False)
    assert result.returncode != 0
    assert "pm:ttl" in result.stdout + result.stderr and "pm:colour" in result.stdout + result.stderr
    assert "nothing was created" in result.stdout + result.stderr
    assert _instances(project, "pm-broken-") == []
    resources = project.export("broken")["deployment"].get("resources") or []
    assert [r["type"] for r in resources if r["type"] != "pulumi:pulumi:Stack"] == []
