"""Thresholds of `invoke status`: pure functions from what a probe read (and ``now``) to a ``Cell``.

- keys: the ages and policies of ``fleet.key_age`` (the numbers `rotate.due` acts on): due within 7 days ->
  warning; due (what `rotate.due` would rotate now: past its period, no readable date, or a revoked key waiting
  for its replacement) -> critical; key missing, or no day-2 intent at all -> critical.
- backups: < 24 h ok, 24-48 h warning, > 48 h or none critical; ``alert`` once older than 25 h.
- Vault: a sealed node or no active node critical, an unreachable or uninitialised node warning.
- VPS: ACTIVE and idle ok, busy (task_state) or label/IP different from the stack's warning, stopped or gone
  critical.
- DNS: any record missing or wrong on the authoritative servers critical.

(The certificate's thresholds are in ``fleet.status_cert``.)
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from dnsrecords.verify import VerifyReport
from fleet.key_age import AgeState, KeyAge, Kind
from fleet.status_model import Cell, Severity, days, worst
from hostwinds.models import READY_STATUS, Instance
from toolkit.clock import iso
from vault.backup.freshness import FreshnessReport
from vault.nodes import NodeHealth

KEY_NAMES: dict[Kind, str] = {Kind.SSH_ADMIN: "admin_ssh", Kind.SSH_TENANT: "tenant_ssh", Kind.SMTP: "smtp",
                              Kind.DKIM: "dkim"}
"""How the report names each key."""
_KEY_SEVERITY = {AgeState.OK: (Severity.OK, ""), AgeState.SOON: (Severity.WARNING, "due within 7 days")}


def key_entry(age: KeyAge, now: datetime) -> dict[str, Any]:
    """Age, next rotation and severity of one key."""
    entry: dict[str, Any] = {"name": KEY_NAMES[age.kind], "path": age.path, "version": age.version,
                             "period_days": age.period_days}
    state = age.state(now)
    if state is AgeState.REVOKED:
        return {**entry, "severity": Severity.CRITICAL.value, "detail": "revoked, no new key yet: regeneration due"}
    if age.rotated_at is None:
        return {**entry, "severity": Severity.CRITICAL.value, "detail": f"{age.problem}: rotation due"}
    due = age.due_at(now)
    left = due - now
    severity, note = _KEY_SEVERITY.get(state, (Severity.CRITICAL, "overdue" if left < timedelta(0) else "due now"))
    return {**entry, "severity": severity.value, "last_rotated": iso(age.rotated_at),
            "age_days": days(now - age.rotated_at), "next_rotation": iso(due), "due_in_days": days(left),
            "detail": note}


def keys_cell(ages: Sequence[KeyAge], missing: Sequence[str], now: datetime) -> Cell:
    """Every key's entry; ``missing`` names the keys Vault does not hold."""
    entries = [key_entry(age, now) for age in ages]
    entries += [{"name": name, "severity": Severity.CRITICAL.value, "detail": "missing in Vault"} for name in missing]
    severity = worst(Severity(e["severity"]) for e in entries)
    dated = [e for e in entries if "due_in_days" in e]
    flagged = [f"{e['name']} {e['detail']}" for e in entries if e["detail"]]
    if flagged:
        summary = "; ".join(flagged)
    elif dated:
        soonest = min(dated, key=lambda e: float(e["due_in_days"]))
        summary = f"next: {soonest['name']} in {float(soonest['due_in_days']):.0f} d"
    else:
        summary = "no keys"
    return Cell(severity, summary, {"keys": entries})


def no_intent_cell(path: str) -> Cell:
    """No day-2 intent in Vault: the tenant was never deployed (`rotate.due` notes it and rotates nothing)."""
    return Cell(Severity.CRITICAL, "no day-2 intent in Vault (not deployed?)", {"keys": [], "missing": path})


def backup_cell(report: FreshnessReport, backups: int, where: str) -> Cell:
    severity = {"ok": Severity.OK, "warning": Severity.WARNING, "critical": Severity.CRITICAL}[report.status.value]
    if report.age is None or report.latest is None:
        return Cell(severity, "no backup", {"alert": report.alert, "backups": 0, "store": where})
    hours = report.age.total_seconds() / 3600
    summary = f"{hours:.1f} h old" + (" (alert > 25 h)" if report.alert else "")
    return Cell(severity, summary, {"alert": report.alert, "backups": backups, "latest": iso(report.latest),
                                    "age_hours": round(hours, 2), "store": where})


def vault_cell(nodes: Sequence[NodeHealth]) -> Cell:
    reachable = [n for n in nodes if n.reachable]
    sealed = [n for n in reachable if n.sealed]
    active = [n for n in reachable if n.active]
    standby = [n for n in reachable if n.standby]
    other = [n for n in reachable if not (n.sealed or n.active or n.standby)]
    details = {"nodes": len(nodes), "reachable": len(reachable), "active": len(active), "standby": len(standby),
               "sealed": len(sealed), "node_states": [_node_state(n) for n in nodes]}
    counts = f"{len(reachable)}/{len(nodes)} reachable"
    if sealed:
        return Cell(Severity.CRITICAL, f"{len(sealed)} sealed, {counts}", details)
    if not active:
        return Cell(Severity.CRITICAL, f"no active node, {counts}", details)
    if len(reachable) < len(nodes) or other:
        return Cell(Severity.WARNING, f"{counts}, {len(standby)} standby", details)
    return Cell(Severity.OK, f"active, {len(standby)} standby, {counts}", details)


def _node_state(node: NodeHealth) -> dict[str, Any]:
    state = ("unreachable" if not node.reachable else "sealed" if node.sealed else "active" if node.active
             else "standby" if node.standby else "unhealthy")
    return {"address": node.address, "state": state}


def vps_cell(instance: Instance | None, *, label: str, expected_ip: str, source: str) -> Cell:
    if instance is None:
        return Cell(Severity.CRITICAL, "no instance", {"label": label, "source": source})
    label_ok = instance.label == label
    ip_ok = not expected_ip or instance.main_ip == expected_ip
    details = {"serviceid": instance.serviceid, "status": instance.status, "task_state": instance.task_state,
               "main_ip": instance.main_ip, "label": instance.label, "expected_label": label,
               "label_matches": label_ok, "ip_matches_stack": ip_ok, "source": source}
    text = f"{instance.status}{f' ({instance.task_state})' if instance.task_state else ''} {instance.main_ip}"
    if instance.gone or (instance.status != READY_STATUS and not instance.task_state):
        return Cell(Severity.CRITICAL, text, details)
    notes = [] if label_ok else [f"label {instance.label!r} != {label!r}"]
    notes += [] if ip_ok else [f"stack says {expected_ip}"]
    if instance.task_state or notes:
        return Cell(Severity.WARNING, "; ".join([text, *notes]), details)
    return Cell(Severity.OK, text, details)


def dns_cell(report: VerifyReport) -> Cell:
    problems = report.problems
    details = {"checks": len(report.checks), "problems": [
        {"subject": c.subject, "status": c.status, "expected": c.expected, "found": c.found} for c in problems]}
    if not problems:
        return Cell(Severity.OK, f"all {len(report.checks)} checks ok", details)
    missing = sum(1 for c in problems if c.status == "missing")
    wrong = len(problems) - missing
    return Cell(Severity.CRITICAL, f"{missing} missing, {wrong} wrong", details)
