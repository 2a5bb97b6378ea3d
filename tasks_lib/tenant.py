"""`invoke tenant.new`: scaffold a validated stack file for a new tenant."""

from __future__ import annotations

from pathlib import Path

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task
from rich.console import Console

from toolkit import stack_files
from toolkit.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent
console = Console()


@task(help={
    "tenant": "tenant id (lower-case letters, digits, inner hyphens)",
    "domain": "the tenant's sending domain (punycode for IDNs)",
    "size": "small (1 vCPU/2 GB), medium (2/4) or large (4/8)",
    "location": "Hostwinds location id",
    "dns_server": "RFC 2136 primary address (the TSIG secret comes from PM_DNS_TSIG_SECRET)",
    "dns_port": "RFC 2136 primary port",
    "dns_zone": "the zone the records go into (default: the domain)",
    "tsig_key_name": "TSIG key name",
    "vault_addrs": "comma-separated Vault node addresses",
    "ssh_key_type": "rsa4096 or ed25519",
    "force": "overwrite an existing stack file",
})
def new(
    c: Context, tenant: str, domain: str, size: str = "small", location: str = "1", dns_server: str = "127.0.0.1",
    dns_port: int = 53, dns_zone: str = "", tsig_key_name: str = "tenant-update",
    vault_addrs: str = "http://127.0.0.1:8200", ssh_key_type: str = "rsa4096", force: bool = False,
) -> None:
    """Scaffold stacks/Pulumi.<tenant>.yaml (validated; nothing is created until `pulumi up`)."""
    raw = {
        "tenant_id": tenant, "domain": domain, "size": size, "location": location,
        "dns": {"provider": "rfc2136", "server": dns_server, "port": dns_port, "zone": dns_zone or domain,
                "tsig_key_name": tsig_key_name},
        "vault_addrs": [a for a in vault_addrs.split(",") if a], "ssh_key_type": ssh_key_type,
    }
    try:
        path = stack_files.create(REPO / "stacks", raw, overwrite=force)
    except ConfigError as exc:
        raise Exit(str(exc), code=2) from None
    console.print(f"wrote {path.relative_to(REPO)}; next: `pulumi up --stack {tenant}`")
