"""Verify a tenant's published mail DNS end to end against the zone's authoritative servers.

Builds the expected record set from the tenant's config and the live values (VPS IP, DKIM selector), reads the
DKIM private key from Vault (in memory) to prove signing verifies against DNS, and checks forward-confirmed
reverse DNS through the PTR source the config names (DNS, or the Hostwinds API where no reverse zone is
reachable, as in the sandbox). ``verify_tenant`` is the one entry point: the Pulumi verification resource,
``dns.check``, ``status``, ``dr.migrate`` and the demo all call it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from dnsrecords.dmarc import DmarcPolicy
from dnsrecords.recordset import MailDomainInputs
from dnsrecords.verify import PtrLookup, Server, VerifyReport, authoritative_servers, dns_ptr_lookup, verify_inputs
from hostwinds.client import HostwindsClient
from hostwinds.settings import ClientSettings
from toolkit.tenant_config import TenantConfig
from vault import keys, paths
from vault.client import VaultClient


def domain_inputs(config: TenantConfig, *, mail_ip: str, dkim_public_key: str = "") -> MailDomainInputs:
    """The record-set inputs of a tenant (shared by the DNS component, verification and migration)."""
    return MailDomainInputs(
        domain=config.domain, mail_ip=mail_ip, dkim_selector=config.dkim_selector,
        dkim_public_key=dkim_public_key, dmarc=DmarcPolicy(stage=config.dmarc_stage, rua=config.dmarc_rua),
        spf_includes=config.spf_includes, ttl=config.ttl,
    )


def dns_settings(config: TenantConfig) -> dict[str, Any]:
    """The (non-secret) settings of the tenant's DNS provider, as ``dnsrecords.providers.make_provider`` takes
    them (the secret comes from the environment: PM_DNS_TSIG_SECRET / CLOUDFLARE_API_TOKEN)."""
    settings = config.dns.model_dump(exclude={"provider"}, exclude_none=True)
    settings["zone"] = config.dns.zone or config.domain
    return settings


def servers_for(config: TenantConfig) -> list[Server]:
    """The servers to ask: the RFC 2136 primary itself, else the zone's published NS set."""
    if config.dns.provider == "rfc2136" and config.dns.server:
        return [(config.dns.server, config.dns.port)]
    return authoritative_servers(config.dns.zone or config.domain)


def hostwinds_client(config: TenantConfig, env: Mapping[str, str] | None = None, **settings: Any) -> HostwindsClient:
    """The tenant's Hostwinds client: key from ``env`` (default the process's), URL from the stack config's
    ``hostwinds.api_url`` else ``env`` (``hostwinds.settings.ClientSettings.from_env``); ``settings`` tune it."""
    return HostwindsClient(ClientSettings.from_env(env, api_url=config.hostwinds.api_url, **settings))


def hostwinds_ptr_lookup(client: HostwindsClient, serviceid: str) -> PtrLookup:
    """PTR as the Hostwinds API reports it for instance ``serviceid``."""
    return lambda ip: client.rdns(serviceid, ip)


def ptr_lookup_for(config: TenantConfig, serviceid: str, servers: list[Server],
                   hostwinds: Callable[[], HostwindsClient]) -> PtrLookup | None:
    """The PTR source ``ptr_check`` names: the Hostwinds API (needs the instance's ``serviceid``; ``hostwinds`` is
    called only then), the reverse zone in DNS, or none (``skip``: the FCrDNS check is reported as skipped)."""
    if config.ptr_check == "hostwinds":
        return hostwinds_ptr_lookup(hostwinds(), serviceid) if serviceid else None
    if config.ptr_check == "dns":
        return dns_ptr_lookup(servers)
    return None


def verify_tenant(
    config: TenantConfig, *, mail_ip: str, vault: VaultClient | None, serviceid: str = "",
    hostwinds: Callable[[], HostwindsClient] | None = None, env: Mapping[str, str] | None = None,
    servers: list[Server] | None = None,
) -> VerifyReport:
    """The one "PTR lookup + verify the tenant": every record present and equal, FCrDNS through the source the
    config names, SPF, DMARC, and the Vault DKIM key proven against DNS (``vault`` None: without that proof).

    ``config`` is the deployed one (stack file + day-2 intent, ``fleet.intent.apply``). The Hostwinds client for
    the PTR comes from ``hostwinds`` when given (a caller that already holds one), else from ``env``."""
    servers = servers or servers_for(config)
    ptr_lookup = ptr_lookup_for(config, serviceid, servers, hostwinds or (lambda: hostwinds_client(config, env)))
    private_key = None
    if vault is not None:
        private_key = keys.read_private(vault, paths.dkim(config.domain, config.dkim_selector)).reveal().encode()
    return verify_inputs(domain_inputs(config, mail_ip=mail_ip), servers, ptr_lookup=ptr_lookup,
                         dkim_private_key=private_key)


def problem_lines(report: VerifyReport) -> list[str]:
    """One line per failed check, for errors and journals."""
    return [f"{c.subject}: {c.status} (expected {c.expected!r}, found {c.found!r}) {c.detail}" for c in report.problems]
