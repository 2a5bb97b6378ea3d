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
from fleet.verify import hostwinds_client, problem_lines, verify_tenant
from hostwinds.client import HostwindsClient
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


def _verifier(vault: VaultClient, hostwinds: HostwindsClient) -> Callable[[TenantConfig, str, str], VerifyOutcome]:
    def verify(config: TenantConfig, ip: str, serviceid: str) -> VerifyOutcome:
        report = verify_tenant(config, mail_ip=ip, vault=vault, serviceid=serviceid, hostwinds=lambda: hostwinds)
        return VerifyOutcome(report.ok, len(report.checks), tuple(problem_lines(report)))

    return verify


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
    hostwinds = hostwinds_client(config, env)
    with VaultClient.from_env(env) as vault:
        yield MigrationDeps(
            store=VaultJournalStore(vault),
            engine=StackEngine(work_dir, config.tenant_id, env, on_output=on_output),
            intents=VaultIntents(vault),
            verify=_verifier(vault, hostwinds),
            instance_alive=hostwinds.is_live,
            audit=lambda event: _audit(log, event),
            progress=progress,
        )
