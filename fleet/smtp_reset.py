"""The Mailu admin (SMTP) password, rotated or reset in an emergency, carried out by the engine (``fleet.day2``).

The emergency reset (requirements section 3) answers an incident: it needs the incident id, and records it as
intent (``day2_ops.emergency_smtp``). The engine's ``pulumi up`` then writes a 48-byte password as a new Vault
version that marks the version it replaces ``compromised`` with the incident id (one write, so a killed run never
leaves a new password without the mark), and the installer sets it in Mailu: Mailu is the first thing the run
changes outside Vault, and the old password stops working there. The login is checked by the caller
(``fleet.smtp_check``).

An interrupted reset is completed by running it again with the same incident id (the pending mark); a different
incident id, or an ordinary rotation, is refused while it is pending.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fleet import day2, day2_ops
from fleet.day2 import Day2Context, Day2Error, Day2Result, versions_of
from fleet.intent import TenantIntent
from toolkit import validate
from vault import kv, paths

OP = "rotate.smtp"
EMERGENCY_OP = "rotate.smtp.emergency"
GOAL_SECONDS = 300.0
"""The product's bound for an emergency reset (requirements section 3: under 5 minutes)."""


class EmergencyRefused(Day2Error):
    """The emergency reset was refused before anything changed (no or another incident id)."""


@dataclass(frozen=True)
class EmergencyReset:
    result: Day2Result
    incident_id: str
    compromised_version: int
    new_version: int


def incident_id_of(incident: str, *, emergency: bool) -> str | None:
    """The checked incident id (None: an ordinary rotation). Asking for an emergency without one is refused."""
    if not incident:
        if emergency:
            raise EmergencyRefused("an emergency reset needs the incident it answers: pass --incident <id> "
                                   "(recorded in Vault and the audit log); nothing was changed")
        return None
    return validate.key_id(incident.strip(), "incident")


def _pending_emergency(current: TenantIntent) -> str | None:
    pending = current.pending
    if pending is None or pending.op != EMERGENCY_OP:
        return None
    return str(pending.details.get("incident_id") or "")


def rotate(ctx: Day2Context, tenant: str) -> Day2Result:
    """The scheduled rotation (32-byte password), refused while an emergency reset is unfinished."""
    prepared = day2.deployed(ctx, tenant)
    started = _pending_emergency(prepared[2])
    if started is not None:
        raise EmergencyRefused(f"the emergency reset of {tenant} for incident {started} was interrupted: complete it "
                               f"with `invoke rotate.smtp --tenant {tenant} --incident {started}`; nothing was changed")
    return day2.run(ctx, tenant, OP, day2_ops.rotate_smtp, prepared=prepared)


def emergency(ctx: Day2Context, tenant: str, incident_id: str) -> EmergencyReset:
    """Reset the password for ``incident_id`` (or complete the interrupted reset of that incident) and check that
    Vault holds the mark: the new version names the incident and the version it replaced as compromised."""
    prepared = day2.deployed(ctx, tenant)
    _engine, outputs, current = prepared
    before: Mapping[str, Any] = outputs
    pending = current.pending
    if pending is not None and pending.op == EMERGENCY_OP:
        started = str(pending.details.get("incident_id") or "")
        if started != incident_id:
            raise EmergencyRefused(f"an emergency reset of {tenant} for incident {started} is unfinished: complete "
                                   f"it with --incident {started} first; nothing was changed")
        before = pending.details.get("before") or outputs  # what was in service when it started
    old = versions_of(before).get("smtp_admin")
    if old is None:
        raise Day2Error(f"stack {tenant} has no SMTP credential version output: run `pulumi up --stack {tenant}`")
    result = day2.run(ctx, tenant, EMERGENCY_OP, day2_ops.emergency_smtp(incident_id),
                      details={"incident_id": incident_id, "compromised_version": old}, prepared=prepared)
    record = kv.read(ctx.vault, paths.smtp_admin(tenant))
    marked = old in (record.data.get("compromised_versions") or [])
    if record.data.get("incident_id") != incident_id or not marked or record.version <= old:
        raise Day2Error(f"{paths.smtp_admin(tenant).logical} v{record.version} does not mark v{old} compromised for "
                        f"incident {incident_id}: the stack converged but Vault disagrees; check the record")
    return EmergencyReset(result, incident_id, old, record.version)
