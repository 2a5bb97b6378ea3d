"""Wire a migration to the real systems: Vault (journal, day-2 intent, verification key), the Pulumi stack
(Automation API), Hostwinds (is the old VPS gone, PTR) and the authoritative DNS servers; plus the audit log."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fleet import intent as intents
from fleet.audit import AuditLog, audit_path
from fleet.intent import TenantIntent
from fleet.migrate import MigrationDeps, VerifyOutcome
from fleet.migrate_journal import VaultJournalStore
from fleet.stack_engine import StackEngine
from fleet.verify import hostwinds_ptr_lookup, verify_tenant
from hostwinds.client import GONE_STATUSES, HostwindsClient
from hostwinds.settings import DEFAULT_URL, ENV_API_KEY, ENV_API_URL, ClientSettings
from toolkit.redact import Secret
from toolkit.tenant_config import TenantConfig
from vault.client import VaultClient


@dataclass
class VaultIntents:
    """The ``Intents`` port over ``fleet.intent`` (``vps/<tenant>/intent``, check-and-set)."""

    client: VaultClient

    def load(self, tenant: str) -> TenantIntent | None:
        return intents.load(self.client, tenant)

    def change(self, tenant: str, edit: Callable[[TenantIntent], TenantIntent]) -> TenantIntent:
        return intents.change(self.client, tenant, edit)

    def taken_selectors(self, domain: str, intent: TenantIntent) -> set[str]:
        return intents.taken_selectors(self.client, domain, intent)


def _hostwinds(config: TenantConfig, env: Mapping[str, str]) -> HostwindsClient:
    """A client like the Instance provider's: key from ``env``, URL from the stack config (else ``env``, else the
    contract's), checked by ``ClientSettings`` before the key can go anywhere."""
    url = config.hostwinds.api_url or env.get(ENV_API_URL) or DEFAULT_URL
    return HostwindsClient(ClientSettings(api_key=Secret(env.get(ENV_API_KEY, "")), url=url))


def _verifier(vault: VaultClient, hostwinds: HostwindsClient) -> Callable[[TenantConfig, str, str], VerifyOutcome]:
    def verify(config: TenantConfig, ip: str, serviceid: str) -> VerifyOutcome:
        ptr_lookup = hostwinds_ptr_lookup(hostwinds, serviceid) if config.ptr_check == "hostwinds" else None
        report = verify_tenant(config, mail_ip=ip, vault=vault, ptr_lookup=ptr_lookup)
        problems = tuple(f"{c.subject}: {c.status} (expected {c.expected!r}, found {c.found!r}) {c.detail}"
                         for c in report.problems)
        return VerifyOutcome(report.ok, len(report.checks), problems)

    return verify


def _instance_alive(hostwinds: HostwindsClient) -> Callable[[str], bool]:
    def alive(serviceid: str) -> bool:
        return any(i.serviceid == serviceid and i.status not in GONE_STATUSES for i in hostwinds.list_instances())

    return alive


def _audit(log: AuditLog, event: Mapping[str, Any]) -> None:
    details = {k: v for k, v in event.items() if k not in ("event", "tenant")}
    log.event(str(event.get("event", "vps.migrated")), tenant=str(event.get("tenant")), outcome="done", **details)


@contextmanager
def live_deps(config: TenantConfig, work_dir: Path, env: Mapping[str, str], *,
              progress: Callable[[str], None], on_output: Callable[[str], None] | None = None,
              audit_log: Path | None = None) -> Iterator[MigrationDeps]:
    """The real ``MigrationDeps`` for the tenant of the stack config ``config`` (the Vault client is closed on
    exit). The Hostwinds client is the Instance provider's: key from ``env``, URL from the config or ``env``."""
    log = AuditLog(audit_log or audit_path(env=env))
    hostwinds = _hostwinds(config, env)
    with VaultClient.from_env(env) as vault:
        yield MigrationDeps(
            store=VaultJournalStore(vault),
            engine=StackEngine(work_dir, config.tenant_id, env, on_output=on_output),
            intents=VaultIntents(vault),
            verify=_verifier(vault, hostwinds),
            instance_alive=_instance_alive(hostwinds),
            audit=lambda event: _audit(log, event),
            progress=progress,
        )
