"""`invoke dns.check`: verify a tenant's published DNS against its authoritative servers.

    invoke dns.check --tenant demo          # config from stacks/Pulumi.demo.yaml, IP/serviceid from its outputs,
                                            # DKIM private key from Vault (signing proven against DNS), PTR per config
    invoke dns.check --domain acme.example --ip 192.0.2.10 --selector pm20261124 --server 127.0.0.1:15353

Without a stack file, explicit options describe the expected set; ``--dkim-key-file`` (a private key PEM) adds the
sign-and-verify proof and ``--ptr-server`` asks that server's reverse zone for the PTR (FCrDNS).
Exit status 1 if anything is missing or wrong, 2 on bad input or an unreachable server.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task
from rich.console import Console
from rich.table import Table

from dnsrecords import verify
from dnsrecords.dmarc import DmarcPolicy
from dnsrecords.recordset import MailDomainInputs
from tasks_lib.day2 import connection_env
from toolkit import stack_files
from toolkit.errors import ToolkitError
from toolkit.tenant_config import TenantConfig

console = Console()
STACKS = Path(__file__).resolve().parent.parent / "stacks"
_STYLE = {"ok": "green", "missing": "red", "wrong": "red", "skipped": "yellow"}


def _stack_config(project: Path, tenant: str) -> TenantConfig | None:
    """The tenant's stack file, parsed and validated (``toolkit.stack_files``), when there is one."""
    if not tenant or not (project / "stacks" / f"Pulumi.{tenant}.yaml").exists():
        return None
    return stack_files.load(project / "stacks", tenant)


def _servers(server: str, domain: str, env: Mapping[str, str]) -> list[verify.Server]:
    if server:
        return [verify.parse_server(server)]
    if env.get("PM_DNS_SERVER"):
        return [verify.parse_server(f"{env['PM_DNS_SERVER']}:{env.get('PM_DNS_PORT', '53')}")]
    return verify.authoritative_servers(domain)


def _table(title: str, report: verify.VerifyReport) -> Table:
    table = Table(title=title)
    for column in ("status", "check", "expected", "found", "detail"):
        table.add_column(column, overflow="fold")
    for c in report.checks:
        table.add_row(f"[{_STYLE[c.status]}]{c.status}[/]", c.subject, c.expected, c.found, c.detail)
    return table


def _tenant_report(config: TenantConfig, ip: str, use_vault: bool, project: Path,
                   env: Mapping[str, str]) -> tuple[str, list[verify.Server], verify.VerifyReport]:
    """Everything from the stack: config and its day-2 intent, live IP/serviceid from its outputs, DKIM key from
    Vault, PTR source."""
    from fleet.intent import apply, load
    from fleet.stack_engine import stack_outputs
    from fleet.verify import servers_for, verify_tenant
    from vault.client import VaultClient

    outputs = {} if ip else stack_outputs(config.tenant_id, work_dir=project, env=env)
    mail_ip = ip or str(outputs.get("main_ip") or "")
    if not mail_ip:
        raise Exit(f"stack {config.tenant_id!r} has no main_ip output (not deployed?); pass --ip", code=2)
    serviceid = str(outputs.get("serviceid") or "")
    servers = servers_for(config)
    if use_vault:
        with VaultClient.from_env(env) as vault:
            intent = load(vault, config.tenant_id)
            config = apply(config, intent) if intent is not None else config
            report = verify_tenant(config, mail_ip=mail_ip, vault=vault, serviceid=serviceid, servers=servers,
                                   env=env)
    else:
        report = verify_tenant(config, mail_ip=mail_ip, vault=None, serviceid=serviceid, servers=servers, env=env)
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
    env = connection_env()
    try:
        config = _stack_config(project, tenant)
        if config is not None and not domain:
            domain, servers, report = _tenant_report(config, ip, not no_vault, project, env)
        else:
            domain, servers, report = _explicit_report(
                config, domain, ip, selector, server, dkim_public_key, dkim_key_file, ptr_server, include,
                dmarc_stage, dmarc_rua, ttl, env,
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
    config: TenantConfig | None, domain: str, ip: str, selector: str, server: str, dkim_public_key: str,
    dkim_key_file: str, ptr_server: str, include: list[str] | None, dmarc_stage: str, dmarc_rua: str, ttl: int,
    env: Mapping[str, str],
) -> tuple[str, list[verify.Server], verify.VerifyReport]:
    """The expected set from the options; a stack file, when there is one, fills what the options leave out."""
    from fleet.verify import domain_inputs

    domain = domain or (config.domain if config else "")
    if not domain or not ip:
        raise Exit("give --domain (or a --tenant with a stack file) and --ip", code=2)
    base = domain_inputs(config, mail_ip=ip) if config else MailDomainInputs(domain, ip, "", "")
    inputs = replace(
        base, domain=domain, dkim_selector=selector or base.dkim_selector, dkim_public_key=dkim_public_key,
        ttl=ttl or base.ttl, spf_includes=tuple(include or base.spf_includes),
        dmarc=DmarcPolicy(dmarc_stage or base.dmarc.stage,  # type: ignore[arg-type]
                          rua=dmarc_rua or base.dmarc.rua),
    )
    stack_server = f"{config.dns.server}:{config.dns.port}" if config and config.dns.server else ""
    servers = _servers(server or stack_server, domain, env)
    private = Path(dkim_key_file).read_bytes() if dkim_key_file else None
    ptr = verify.dns_ptr_lookup([verify.parse_server(ptr_server)]) if ptr_server else None
    return domain, servers, verify.verify_inputs(inputs, servers, ptr_lookup=ptr, dkim_private_key=private)
