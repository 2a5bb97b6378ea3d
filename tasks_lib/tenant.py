"""`invoke tenant.new`: scaffold a validated stack file for a new tenant.

Defaults come from the connection settings every task uses (process environment, else the running sandbox's env
file): the DNS primary, zone and TSIG key name and the Hostwinds API URL. Every value goes
through the one validation model (``toolkit.tenant_config``), so a bad option is one clear message naming the
setting, and the file is written only when `pulumi up` can take it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task
from rich.console import Console

from tasks_lib.day2 import REPO, audited, connection_env
from toolkit import stack_files
from toolkit.errors import ConfigError

console = Console()


def defaults(env: Mapping[str, str]) -> dict[str, str]:
    """Settings the environment (or the sandbox) already knows; production passes them as options."""
    return {
        "dns_server": env.get("PM_DNS_SERVER", ""), "dns_port": env.get("PM_DNS_PORT", "53"),
        "dns_zone": env.get("PM_DNS_ZONE", ""), "tsig_key_name": env.get("PM_DNS_TSIG_NAME", ""),
        "tsig_algorithm": env.get("PM_DNS_TSIG_ALGORITHM", ""),
        "hostwinds_api_url": env.get("HOSTWINDS_API_URL", ""),
    }


def raw_config(tenant: str, domain: str, options: Mapping[str, str]) -> dict[str, Any]:
    """The stack's ``pm:`` settings from the options (empty = leave the model's default)."""
    dns: dict[str, Any] = {"provider": options.get("dns_provider") or "rfc2136"}
    for key, option in (("server", "dns_server"), ("port", "dns_port"), ("zone", "dns_zone"),
                        ("tsig_key_name", "tsig_key_name"), ("tsig_algorithm", "tsig_algorithm")):
        if options.get(option):
            dns[key] = options[option]
    hostwinds = {key: options[option] for key, option in (
        ("api_url", "hostwinds_api_url"), ("poll_interval", "poll_interval"), ("poll_timeout", "poll_timeout"),
        ("firewall_profile", "firewall_profile")) if options.get(option)}
    raw: dict[str, Any] = {"tenant_id": tenant, "domain": domain, "dns": dns}
    for key in ("size", "location", "image", "ssh_key_type", "ptr_check", "dkim_selector", "dmarc_rua"):
        if options.get(key):
            raw[key] = options[key]
    if hostwinds:
        raw["hostwinds"] = hostwinds
    return raw


@task(auto_shortflags=False, help={
    "tenant": "tenant id (lower-case letters, digits, inner hyphens); also the stack's name",
    "domain": "the tenant's sending domain (punycode for IDNs)",
    "size": "small (1 vCPU/2 GB), medium (2/4) or large (4/8)",
    "location": "Hostwinds location", "image": "Hostwinds image",
    "dns_provider": "rfc2136 (default), cloudflare or manual",
    "dns_server": "RFC 2136 primary address (default: PM_DNS_SERVER / the sandbox)",
    "dns_port": "RFC 2136 primary port (default: PM_DNS_PORT / the sandbox, else 53)",
    "dns_zone": "the zone the records go into (default: PM_DNS_ZONE / the sandbox, else the domain)",
    "tsig_key_name": "TSIG key name (default: PM_DNS_TSIG_NAME / the sandbox); the secret stays in PM_DNS_TSIG_SECRET",
    "tsig_algorithm": "TSIG algorithm (default: PM_DNS_TSIG_ALGORITHM / the sandbox, else hmac-sha256)",
    "hostwinds_api_url": "Hostwinds API URL (default: HOSTWINDS_API_URL / the sandbox's simulator)",
    "poll_interval": "seconds between Hostwinds status polls", "poll_timeout": "seconds to wait for a VPS",
    "firewall_profile": "Hostwinds firewall profile",
    "ptr_check": "how the PTR is verified: dns, hostwinds (default in the sandbox) or skip",
    "ssh_key_type": "rsa4096 or ed25519", "dkim_selector": "first DKIM selector (default: a fresh dated one)",
    "dmarc_rua": "address for DMARC aggregate reports",
    "work_dir": "the Pulumi project directory (default: this repository); the file goes to <work_dir>/stacks",
    "force": "replace an existing stack file's pm: settings (other keys are kept)",
})
def new(c: Context, tenant: str, domain: str, size: str = "", location: str = "", image: str = "",
        dns_provider: str = "", dns_server: str = "", dns_port: str = "", dns_zone: str = "", tsig_key_name: str = "",
        tsig_algorithm: str = "", hostwinds_api_url: str = "", poll_interval: str = "",
        poll_timeout: str = "", firewall_profile: str = "", ptr_check: str = "", ssh_key_type: str = "",
        dkim_selector: str = "", dmarc_rua: str = "", work_dir: str = "", force: bool = False) -> None:
    """Scaffold stacks/Pulumi.<tenant>.yaml (validated; nothing is created until `pulumi up`)."""
    given = {"size": size, "location": location, "image": image, "dns_provider": dns_provider,
             "dns_server": dns_server, "dns_port": dns_port, "dns_zone": dns_zone, "tsig_key_name": tsig_key_name,
             "tsig_algorithm": tsig_algorithm, "hostwinds_api_url": hostwinds_api_url,
             "poll_interval": poll_interval, "poll_timeout": poll_timeout, "firewall_profile": firewall_profile,
             "ptr_check": ptr_check, "ssh_key_type": ssh_key_type, "dkim_selector": dkim_selector,
             "dmarc_rua": dmarc_rua}
    env = connection_env()
    sandbox = bool(env.get("PM_DNS_SERVER")) and env.get("HOSTWINDS_API_URL", "").startswith("http://127.")
    options = {**defaults(env), "ptr_check": "hostwinds" if sandbox else "",
               **{k: v for k, v in given.items() if v}}
    options["dns_zone"] = options.get("dns_zone") or domain
    project = Path(work_dir).resolve() if work_dir else REPO
    try:
        with audited("tenant.new", tenant=tenant, env=env) as details:
            details.update(domain=domain, overwrite=force)
            path = stack_files.create(project / "stacks", raw_config(tenant, domain, options), overwrite=force)
            details["stack_file"] = str(path)
    except ConfigError as exc:
        raise Exit(f"tenant.new: {exc}\n(nothing was written)", code=2) from None
    console.print(f"wrote {path}; next: `pulumi stack init {tenant}` and `pulumi up --stack {tenant}`")
