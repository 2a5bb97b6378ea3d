"""What a tenant stack could have written, read straight from the sandbox's servers (Vault, BIND, the Hostwinds
simulator): for asserting that an attack or a refused run wrote nothing and changed nothing."""

from __future__ import annotations

from typing import Any

import dns.message
import dns.query
import hvac

from sandbox.hostwinds_sim.process import AdminClient
from tests.fixtures.tenant import TenantProject


def vault_client(project: TenantProject) -> hvac.Client:
    return hvac.Client(project.sandbox_env["VAULT_ADDR"], token=project.sandbox_env["VAULT_TOKEN"])


def hostwinds_admin(project: TenantProject) -> AdminClient:
    return AdminClient(project.sandbox_env["HOSTWINDS_API_URL"].split("/cloud/")[0],
                       project.sandbox_env["HOSTWINDS_API_KEY"])


def secret_versions(client: hvac.Client, mount: str, folder: str) -> dict[str, tuple[int, str]]:
    """Every secret under ``mount/folder`` (recursively): current version and when it was last written."""
    found: dict[str, tuple[int, str]] = {}
    try:
        keys = client.secrets.kv.v2.list_secrets(path=folder, mount_point=mount)["data"]["keys"]
    except hvac.exceptions.InvalidPath:
        return found
    for key in keys:
        path = f"{folder}/{key}".replace("//", "/").rstrip("/")
        if key.endswith("/"):
            found.update(secret_versions(client, mount, path))
            continue
        meta = client.secrets.kv.v2.read_secret_metadata(path=path, mount_point=mount)["data"]
        found[f"{mount}/{path}"] = (int(meta["current_version"]), str(meta["updated_time"]))
    return found


def records(project: TenantProject, domain: str, selector: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, kind in ((f"mail.{domain}", "A"), (domain, "MX"), (domain, "TXT"),
                       (f"{selector}._domainkey.{domain}", "TXT"), (f"_dmarc.{domain}", "TXT")):
        reply = dns.query.tcp(dns.message.make_query(name, kind), "127.0.0.1", port=project.settings.dns_port,
                              timeout=5)
        out[f"{name}/{kind}"] = sorted(r.to_text() for rrset in reply.answer for r in rrset)
    return out


def tenant_world(project: TenantProject, tenant: str, domain: str, selector: str = "pm20261125") -> dict[str, Any]:
    """Everything a stack could have written for ``tenant``/``domain``: Vault secrets and claims, DNS, Hostwinds."""
    vault = vault_client(project)
    secrets: dict[str, tuple[int, str]] = {}
    for mount, folder in (("vps", tenant), ("smtp", tenant), ("api_keys", tenant), ("dkim", domain)):
        secrets.update(secret_versions(vault, mount, folder))
    for folder in ("claims/domain", "claims/tenant"):
        secrets.update({k: v for k, v in secret_versions(vault, "claims", folder.split("/", 1)[1]).items()
                        if k.endswith(f"/{domain}") or k.endswith(f"/{tenant}")})
    hostwinds = hostwinds_admin(project)
    instances = sorted((str(i["srvrname"]), str(i["serviceid"]), str(i.get("main_ip")), str(i.get("status")))
                       for i in hostwinds.instances() if str(i.get("srvrname", "")).startswith(f"pm-{tenant}-"))
    keys = [name for name in hostwinds.ssh_keys() if name == f"pm-{tenant}-admin"]
    return {"vault": secrets, "dns": records(project, domain, selector), "instances": instances, "keys": keys}


def assert_nothing_for_tenant(project: TenantProject, tenant: str) -> None:
    vault = vault_client(project)
    for mount, folder in (("vps", tenant), ("smtp", tenant), ("api_keys", tenant), ("claims", f"tenant/{tenant}")):
        assert secret_versions(vault, mount, folder) == {}, (mount, folder)
    hostwinds = hostwinds_admin(project)
    assert [i for i in hostwinds.instances() if str(i.get("srvrname", "")).startswith(f"pm-{tenant}-")] == []
    assert f"pm-{tenant}-admin" not in hostwinds.ssh_keys()


def assert_nothing_for_domain(project: TenantProject, domain: str) -> None:
    vault = vault_client(project)
    assert secret_versions(vault, "dkim", domain) == {}
    assert f"claims/domain/{domain}" not in secret_versions(vault, "claims", "domain")
    assert all(values == [] for values in records(project, domain, "pm20261125").values())
