"""`invoke dns.check`: verify a tenant's published DNS against its authoritative servers.

    invoke dns.check --tenant demo          # config from stacks/Pulumi.demo.yaml, IP/serviceid from its outputs,
                                            # DKIM private key from Vault (signing proven against DNS), PTR per config
    invoke dns.check --domain acme.example --ip 192.0.2.10 --selector pm20261124 --server 127.0.0.1:15353

Without a stack file, explicit options describe the expected set; ``--dkim-key-file`` (a private key PEM) adds the
sign-and-verify proof and ``--ptr-server`` asks that server's reverse zone for the PTR (FCrDNS).
Exit status 1 if anything is missing or wrong, 2 on bad input or an unreachable server.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task
from rich.console import Console
from rich.table import Table

from dnsrecords import verify
from dnsrecords.dmarc import DmarcPolicy
from dnsrecords.recordset import MailDomainInputs
from toolkit.errors import ToolkitError

console = Console()
STACKS = Path(__file__).resolve().parent.parent / "stacks"
_STYLE = {"ok": "green", "missing": "red", "wrong": "red", "skipped": "yellow"}


def _stack(tenant: str) -> dict[str, Any]:
    path = STACKS / f"Pulumi.{tenant}.yaml"
    if not tenant or not path.exists():
        return {}
    from toolkit.tenant_config import config_from_stack_file

    config = config_from_stack_file(yaml.safe_load(path.read_text()) or {})
    return {
        "domain": config.domain, "selector": config.dkim_selector, "ttl": config.ttl,
        "includes": config.spf_includes, "dmarc_stage": config.dmarc_stage, "dmarc_rua": config.dmarc_rua,
        "server": f"{config.dns.server}:{config.dns.port}" if config.dns.server else "",
    }


def _servers(server: str, domain: str) -> list[verify.Server]:
    if server:
        return [verify.parse_server(server)]
    if os.environ.get("PM_DNS_SERVER"):
        return [verify.parse_server(f"{os.environ['PM_DNS_SERVER']}:{os.environ.get('PM_DNS_PORT', '53')}")]
    return verify.authoritative_servers(domain)


def _table(title: str, report: verify.VerifyReport) -> Table:
    table = Table(title=title)
    for column in ("status", "check", "expected", "found", "detail"):
        table.add_column(column, overflow="fold")
    for c in report.checks:
        table.add_row(f"[{_STYLE[c.status]}]{c.status}[/]", c.subject, c.expected, c.found, c.detail)
    return table


def _tenant_report(tenant: str, ip: str, use_vault: bool,
                   project: Path) -> tuple[str, list[verify.Server], verify.VerifyReport]:
    """Everything from the stack: config and its day-2 intent, live IP/serviceid from its outputs, DKIM key from
    Vault, PTR source."""
    from fleet.intent import apply, load
    from fleet.stack_outputs import stack_outputs
    from fleet.verify import hostwinds_ptr_lookup, servers_for, verify_tenant
    from hostwinds.client import HostwindsClient
    from hostwinds.settings import ClientSettings
    from toolkit import stack_files
    from vault.client import VaultClient

    config = stack_files.load(project / "stacks", tenant)
    outputs = {} if ip else stack_outputs(tenant, work_dir=project)
    mail_ip = ip or str(outputs.get("main_ip") or "")
    if not mail_ip:
        raise Exit(f"stack {tenant!r} has no main_ip output (not deployed?); pass --ip", code=2)
    ptr = None
    if config.ptr_check == "hostwinds" and outputs.get("serviceid"):
        ptr = hostwinds_ptr_lookup(HostwindsClient(ClientSettings.from_env()), str(outputs["serviceid"]))
    servers = servers_for(config)
    if use_vault:
        with VaultClient.from_env() as vault:
            intent = load(vault, tenant)
            config = apply(config, intent) if intent is not None else config
            report = verify_tenant(config, mail_ip=mail_ip, vault=vault, servers=servers, ptr_lookup=ptr)
    else:
        report = verify_tenant(config, mail_ip=mail_ip, vault=None, servers=servers, ptr_lookup=ptr)
    return config.domain, servers, report


@task(help={
    "tenant": "tenant id: with stacks/Pulumi.<tenant>.yaml, everything comes from the stack, its outputs and Vault",
    "domain": "the tenant's mail domain (without a stack file)",
    "ip": "the VPS's IPv4 address (default: the stack's main_ip output)",
    "selector": "DKIM selector", "server": "authoritative server address[:port] to ask",
    "dkim_public_key": "expected DKIM public key (base64 or PEM)",
    "dkim_key_file": "DKIM private key PEM file: compare keys and sign+verify a test message",
    "ptr_server": "server[:port] holding the reverse zone, for forward-confirmed reverse DNS",
    "include": "extra SPF include (repeatable)", "dmarc_stage": "none | quarantine | reject",
    "dmarc_rua": "DMARC aggregate report address", "ttl": "expected TTL (default 3600)",
    "no_vault": "with --tenant: do not read the DKIM key from Vault (presence/syntax check only)",
    "work_dir": "the Pulumi project directory holding stacks/ (default: this repository)",
}, iterable=["include"])
def check(
    c: Context, tenant: str = "", domain: str = "", ip: str = "", selector: str = "", server: str = "",
    dkim_public_key: str = "", dkim_key_file: str = "", ptr_server: str = "", include: list[str] | None = None,
    dmarc_stage: str = "", dmarc_rua: str = "", ttl: int = 0, no_vault: bool = False, work_dir: str = "",
) -> None:
    """Check every DNS record of a tenant on the authoritative servers; exit 1 if any is missing or wrong."""
    project = Path(work_dir).resolve() if work_dir else STACKS.parent
    try:
        if tenant and (project / "stacks" / f"Pulumi.{tenant}.yaml").exists() and not domain:
            domain, servers, report = _tenant_report(tenant, ip, use_vault=not no_vault, project=project)
        else:
            domain, servers, report = _explicit_report(
                tenant, domain, ip, selector, server, dkim_public_key, dkim_key_file, ptr_server, include,
                dmarc_stage, dmarc_rua, ttl,
            )
    except ToolkitError as exc:
        console.print(f"[red]dns.check failed:[/] {exc}")
        raise Exit(code=2) from None
    where = ", ".join(f"{a}:{p}" for a, p in servers)
    console.print(_table(f"DNS of {tenant or domain} ({domain}) at {where}", report))
    if not report.ok:
        console.print(f"[red]{len(report.problems)} problem(s)[/]")
        raise Exit(code=1)
    console.print("[green]all records present and equal[/]")


def _explicit_report(
    tenant: str, domain: str, ip: str, selector: str, server: str, dkim_public_key: str, dkim_key_file: str,
    ptr_server: str, include: list[str] | None, dmarc_stage: str, dmarc_rua: str, ttl: int,
) -> tuple[str, list[verify.Server], verify.VerifyReport]:
    stack = _stack(tenant)
    domain = domain or str(stack.get("domain") or "")
    if not domain or not ip:
        raise Exit("give --domain (or a --tenant with a stack file) and --ip", code=2)
    inputs = MailDomainInputs(
        domain=domain, mail_ip=ip, dkim_selector=selector or str(stack.get("selector") or ""),
        dkim_public_key=dkim_public_key, ttl=ttl or int(stack.get("ttl") or 3600),
        spf_includes=tuple(include or stack.get("includes") or ()),
        dmarc=DmarcPolicy(dmarc_stage or stack.get("dmarc_stage") or "none",  # type: ignore[arg-type]
                          rua=dmarc_rua or stack.get("dmarc_rua") or None),
    )
    servers = _servers(server or str(stack.get("server") or ""), domain)
    private = Path(dkim_key_file).read_bytes() if dkim_key_file else None
    ptr = verify.dns_ptr_lookup([verify.parse_server(ptr_server)]) if ptr_server else None
    return domain, servers, verify.verify_inputs(inputs, servers, ptr_lookup=ptr, dkim_private_key=private)
