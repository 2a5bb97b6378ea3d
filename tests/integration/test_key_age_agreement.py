"""`rotate.due` and `status` read the same Vault records with one computation (``fleet.key_age``), against real
OpenBao. Each record below is one where the two former copies disagreed; the comment says which answer is right.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

from fleet import intent
from fleet.key_age import Kind
from fleet.rotation import Action, due_items, read_snapshot
from fleet.status import TenantView, keys_probe
from fleet.status_model import Severity
from fleet.status_sources import LiveSources, StatusSettings
from toolkit.clock import iso, parse_instant
from toolkit.tenant_config import TenantConfig, parse_tenant_config
from vault import kv, paths
from vault.client import VaultClient

NOW = parse_instant("2026-11-29T10:00:00Z")


def _ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def _tenant(vault: VaultClient, records: dict[Kind, dict[str, Any]], since: dict[str, str] | None = None,
            ) -> tuple[TenantConfig, intent.TenantIntent]:
    tenant = f"ka{uuid.uuid4().hex[:8]}"
    config = parse_tenant_config({"tenant_id": tenant, "domain": f"{tenant}.example.test",
                                  "dns": {"provider": "manual"}})
    stored = intent.ensure(vault, config, write=True, today=NOW.date())
    stored = intent.save(vault, replace(stored, since=since or {}))
    where = {Kind.SSH_ADMIN: paths.admin_ssh(tenant), Kind.SSH_TENANT: paths.tenant_ssh(tenant),
             Kind.SMTP: paths.smtp_admin(tenant), Kind.DKIM: paths.dkim(config.domain, stored.dkim.selector)}
    for kind, data in records.items():
        kv.write(vault, where[kind], {"public_key": "ssh-ed25519 AAAAtest", **data}, cas=0)
    return config, stored


def _status_keys(vault: VaultClient, config: TenantConfig, current: intent.TenantIntent,
                 tmp_path: Path) -> dict[str, dict[str, Any]]:
    sources = LiveSources(StatusSettings(stacks_dir=tmp_path, env={}))
    cell = keys_probe(TenantView(intent.apply(config, current), sources, NOW, vault=vault, intent=current))
    return {entry["name"]: entry for entry in cell.details["keys"]}


def test_records_the_two_copies_read_differently(vault_system: VaultClient, tmp_path: Path) -> None:
    config, current = _tenant(vault_system, {
        # A policy string in the secret: status honoured up to 4 digits, rotate.due refused anything outside 30..365
        # and stopped the whole run. Right: the intent's rotation_days (90), the string is informational.
        Kind.SSH_ADMIN: {"last_rotated": iso(_ago(100)), "rotation_policy": "1000_days"},
        # A stamp without a zone: rotate.due raised (whole run), status read it as UTC. Right: UTC (the toolkit
        # writes only UTC).
        Kind.SSH_TENANT: {"last_rotated": _ago(10).strftime("%Y-%m-%dT%H:%M:%S")},
        # An SMTP policy of 30 days: status used it, rotate.due used 180. Right: 180 (fixed by the requirements).
        Kind.SMTP: {"last_rotated": iso(_ago(40)), "rotation_policy": "30_days"},
        # An unreadable last_rotated: rotate.due raised, status silently fell back to created_at. Right: reported,
        # and due (the rotation writes a fresh stamp).
        Kind.DKIM: {"last_rotated": "yesterday", "created_at": iso(_ago(10))},
    })
    plan = due_items([read_snapshot(vault_system, config)], NOW)
    assert [(i.kind, i.action) for i in plan.due] == [(Kind.DKIM, Action.ROTATE), (Kind.SSH_ADMIN, Action.ROTATE)]
    assert "'yesterday' is not an ISO 8601 instant" in plan.due[0].reason and "policy 90 days" in plan.due[1].reason
    keys = _status_keys(vault_system, config, current, tmp_path)
    assert {n: (k["severity"], k["period_days"]) for n, k in keys.items()} == {
        "admin_ssh": ("critical", 90), "tenant_ssh": ("ok", 90), "smtp": ("ok", 180), "dkim": ("critical", 365)}
    assert keys["tenant_ssh"]["age_days"] == 10 and keys["admin_ssh"]["version"] == 1
    due_in_status = {n for n, k in keys.items() if k["severity"] == Severity.CRITICAL.value}
    assert due_in_status == {"admin_ssh", "dkim"}  # exactly what rotate.due rotates


def test_ages_recorded_in_the_intent_win_over_the_secrets(vault_system: VaultClient, tmp_path: Path) -> None:
    """status read the secrets' stamps while rotate.due read the intent's ``since`` (when each version went into
    service). Right: the intent, with one read per tenant."""
    records = {kind: {"last_rotated": iso(_ago(400))} for kind in Kind}
    since = dict.fromkeys(intent.SECRET_NAMES, iso(_ago(3)))
    config, current = _tenant(vault_system, records, since)
    assert due_items([read_snapshot(vault_system, config)], NOW).due == []
    keys = _status_keys(vault_system, config, current, tmp_path)
    assert all(k["severity"] == "ok" and k["age_days"] == 3 for k in keys.values()), keys
    assert keys["dkim"]["path"] == paths.dkim(config.domain, current.dkim.selector).logical


def test_a_revoked_tenant_key_is_due_in_both(vault_system: VaultClient, tmp_path: Path) -> None:
    """rotate.due regenerates a revoked tenant key; status said "ok" (the old key's age). Right: due."""
    since = dict.fromkeys(intent.SECRET_NAMES, iso(_ago(3)))
    config, current = _tenant(vault_system, {}, since)
    current = intent.save(vault_system, replace(current, tenant_ssh=replace(current.tenant_ssh, revoked=True)))
    assert [(i.kind, i.action) for i in due_items([read_snapshot(vault_system, config)], NOW).due] == [
        (Kind.SSH_TENANT, Action.REGENERATE)]
    keys = _status_keys(vault_system, config, current, tmp_path)
    assert keys["tenant_ssh"]["severity"] == "critical" and "revoked" in keys["tenant_ssh"]["detail"]
