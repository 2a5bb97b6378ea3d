"""Wire a migration to the real systems: Vault (journal, DKIM selectors, verification key), the Pulumi stack
(Automation API), Hostwinds (is the old VPS gone, PTR) and the authoritative DNS servers; plus the audit log."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from components.hostwinds_instance import client_from
from fleet.audit import AuditLog, audit_path
from fleet.migrate import MigrationDeps, VerifyOutcome
from fleet.migrate_journal import VaultJournalStore
from fleet.stack_engine import StackEngine
from fleet.verify import hostwinds_ptr_lookup, verify_tenant
from hostwinds.client import GONE_STATUSES
from toolkit.tenant_config import TenantConfig
from vault import kv, paths
from vault.client import VaultClient


def _verifier(vault: VaultClient) -> Callable[[TenantConfig, str, str], VerifyOutcome]:
    def verify(config: TenantConfig, ip: str, serviceid: str) -> VerifyOutcome:
        ptr_lookup = None
        if config.ptr_check == "hostwinds":
            ptr_lookup = hostwinds_ptr_lookup(client_from({"api_url": config.hostwinds.api_url}), serviceid)
        report = verify_tenant(config, mail_ip=ip, vault=vault, ptr_lookup=ptr_lookup)
        problems = tuple(f"{c.subject}: {c.status} (expected {c.expected!r}, found {c.found!r}) {c.detail}"
                         for c in report.problems)
        return VerifyOutcome(report.ok, len(report.checks), problems)

    return verify


def _instance_alive(api_url: str | None) -> Callable[[str], bool]:
    def alive(serviceid: str) -> bool:
        client = client_from({"api_url": api_url})
        return any(i.serviceid == serviceid and i.status not in GONE_STATUSES for i in client.list_instances())

    return alive


def _taken_selectors(vault: VaultClient) -> Callable[[TenantConfig], set[str]]:
    def taken(config: TenantConfig) -> set[str]:
        return {name.rstrip("/") for name in kv.list_keys(vault, paths.DKIM_MOUNT, config.domain)}

    return taken


def _audit(log: AuditLog, event: Mapping[str, Any]) -> None:
    details = {k: v for k, v in event.items() if k not in ("event", "tenant")}
    log.event(str(event.get("event", "vps.migrated")), tenant=str(event.get("tenant")), outcome="done", **details)


@contextmanager
def live_deps(tenant: str, work_dir: Path, api_url: str | None, env: Mapping[str, str], *,
              progress: Callable[[str], None], on_output: Callable[[str], None] | None = None,
              audit_log: Path | None = None) -> Iterator[MigrationDeps]:
    """The real ``MigrationDeps`` (the Vault client is closed on exit)."""
    log = AuditLog(audit_log or audit_path(env=env))
    with VaultClient.from_env(env) as vault:
        yield MigrationDeps(
            store=VaultJournalStore(vault),
            engine=StackEngine(work_dir, tenant, env, on_output=on_output),
            verify=_verifier(vault),
            instance_alive=_instance_alive(api_url),
            taken_selectors=_taken_selectors(vault),
            audit=lambda event: _audit(log, event),
            progress=progress,
        )
