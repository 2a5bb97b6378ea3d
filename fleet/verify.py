"""Verify a tenant's published mail DNS end to end against the zone's authoritative servers.

Builds the expected record set from the tenant's config and the live values (VPS IP, DKIM selector), reads the
DKIM private key from Vault (in memory) to prove signing verifies against DNS, and checks forward-confirmed
reverse DNS through the PTR source the config names (DNS, or the Hostwinds API where no reverse zone is
reachable, as in the sandbox).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dnsrecords.dmarc import DmarcPolicy
from dnsrecords.recordset import MailDomainInputs
from dnsrecords.verify import PtrLookup, Server, VerifyReport, authoritative_servers, dns_ptr_lookup, verify_inputs
from hostwinds.client import HostwindsClient
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


def hostwinds_ptr_lookup(client: HostwindsClient, serviceid: str) -> PtrLookup:
    """PTR as the Hostwinds API reports it (``get_instance_ips`` entries with ``rdns``)."""

    def lookup(ip: str) -> str | None:
        payload = client.read("get_instance_ips", {"serviceid": serviceid})
        entries = payload.get("IP Addresses", []) if isinstance(payload, Mapping) else payload
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, Mapping) and entry.get("ip") == ip and entry.get("rdns"):
                return str(entry["rdns"]).rstrip(".")
        return None

    return lookup


def verify_tenant(
    config: TenantConfig, *, mail_ip: str, vault: VaultClient | None, servers: list[Server] | None = None,
    ptr_lookup: PtrLookup | None = None,
) -> VerifyReport:
    """Every record present and equal, FCrDNS, SPF, DMARC, and the Vault DKIM key proven against DNS."""
    servers = servers or servers_for(config)
    if ptr_lookup is None and config.ptr_check == "dns":
        ptr_lookup = dns_ptr_lookup(servers)
    private_key = None
    if vault is not None:
        private_key = keys.read_private(vault, paths.dkim(config.domain, config.dkim_selector)).reveal().encode()
    return verify_inputs(domain_inputs(config, mail_ip=mail_ip), servers, ptr_lookup=ptr_lookup,
                         dkim_private_key=private_key)
