"""Thresholds of `invoke status` with an injected clock: keys, backups, certificate, Vault, VPS, DNS."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from dnsrecords.verify import Check, VerifyReport
from fleet.key_age import KeyAge, Kind
from fleet.status_cells import backup_cell, dns_cell, key_entry, keys_cell, vault_cell, vps_cell
from fleet.status_cert import certificate_cell, parse_certificate
from fleet.status_model import Cell, Severity, StatusError
from hostwinds.models import Instance
from toolkit.clock import FrozenClock
from vault.backup.freshness import assess
from vault.nodes import NodeHealth

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
KINDS = {"admin_ssh": Kind.SSH_ADMIN, "smtp": Kind.SMTP, "dkim": Kind.DKIM}


def _key(days_ago: float, period: int = 90, name: str = "admin_ssh") -> KeyAge:
    return KeyAge(KINDS[name], f"vps/acme/{name}", period, NOW - timedelta(days=days_ago), 1)


# ------------------------------------------------------------------------------------------------ keys
@pytest.mark.parametrize(("days_ago", "period", "severity", "note"), [
    (0, 90, "ok", ""),
    (82.9, 90, "ok", ""),            # 7.1 days left
    (83, 90, "warning", "due within 7 days"),   # exactly 7 days left
    (89.9, 90, "warning", "due within 7 days"),
    (90, 90, "critical", "due now"),  # `rotate.due` rotates it now (status said "warning" here before)
    (90.01, 90, "critical", "overdue"),
    (170, 180, "ok", ""),
    (175, 180, "warning", "due within 7 days"),
    (358, 365, "warning", "due within 7 days"),
    (366, 365, "critical", "overdue"),
])
def test_key_rotation_thresholds(days_ago: float, period: int, severity: str, note: str) -> None:
    entry = key_entry(_key(days_ago, period), NOW)
    assert (entry["severity"], entry["detail"]) == (severity, note)
    assert entry["next_rotation"] == (NOW - timedelta(days=days_ago) + timedelta(days=period)).replace(
        microsecond=0).isoformat().replace("+00:00", "Z")
    assert entry["age_days"] == pytest.approx(days_ago, abs=0.01)


def test_keys_cell_rolls_up_and_flags_missing_keys() -> None:
    fine = keys_cell([_key(10), _key(10, 180, "smtp"), _key(10, 365, "dkim")], [], NOW)
    assert fine.severity is Severity.OK and fine.summary == "next: admin_ssh in 80 d"
    soon = keys_cell([_key(10), _key(176, 180, "smtp")], [], NOW)
    assert soon.severity is Severity.WARNING and "smtp due within 7 days" in soon.summary
    missing = keys_cell([_key(10)], ["dkim"], NOW)
    assert missing.severity is Severity.CRITICAL and "dkim missing in Vault" in missing.summary


def test_a_key_rotate_due_would_act_on_is_critical() -> None:
    """An undated key and a revoked one are due for `rotate.due` (rotation, regeneration): status said "unknown"
    and "ok" for them; both are critical now."""
    undated = keys_cell([KeyAge(Kind.SMTP, "smtp/acme/admin", 180, None, 3, "no rotation date recorded")], [], NOW)
    assert undated.severity is Severity.CRITICAL and "no rotation date recorded: rotation due" in undated.summary
    revoked = keys_cell([KeyAge(Kind.SSH_TENANT, "vps/acme/tenant_ssh", 90, NOW, 2, revoked=True)], [], NOW)
    assert revoked.severity is Severity.CRITICAL and "revoked" in revoked.summary


# ------------------------------------------------------------------------------------------------ backups
@pytest.mark.parametrize(("hours", "severity", "alert"), [
    (1, "ok", False), (23.9, "ok", False), (24.5, "warning", False), (25.5, "warning", True),
    (47.9, "warning", True), (48.1, "critical", True),
])
def test_backup_freshness(hours: float, severity: str, alert: bool) -> None:
    cell = backup_cell(assess([NOW - timedelta(hours=hours)], FrozenClock(NOW)), 1, "/backups")
    assert cell.severity.value == severity and cell.details["alert"] is alert
    assert cell.details["age_hours"] == pytest.approx(hours, abs=0.01)
    assert ("alert > 25 h" in cell.summary) is alert


def test_no_backup_is_critical() -> None:
    cell = backup_cell(assess([], FrozenClock(NOW)), 0, "/backups")
    assert cell.severity is Severity.CRITICAL and cell.summary == "no backup" and cell.details["alert"] is True


# ------------------------------------------------------------------------------------------------ certificate
def make_certificate(not_after: datetime, names: tuple[str, ...] = ("mail.acme.example",)) -> bytes:
    """A self-signed certificate generated here (PEM)."""
    from cryptography.hazmat.primitives import serialization

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(not_after - timedelta(days=90))
               .not_valid_after(not_after)
               .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False))
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


@pytest.mark.parametrize(("days_left", "severity", "threshold"), [
    (90, "ok", None), (30.5, "ok", None), (30, "warning", 30), (8, "warning", 30), (7, "critical", 7),
    (2, "critical", 7), (1, "critical", 1), (0.2, "critical", 1), (-1, "critical", 1),
])
def test_certificate_thresholds(days_left: float, severity: str, threshold: int | None) -> None:
    info = parse_certificate(make_certificate((NOW + timedelta(days=days_left)).replace(microsecond=0)))
    cell = certificate_cell(info, NOW, host="mail.acme.example")
    assert cell.severity.value == severity
    assert cell.details["threshold_days"] == threshold
    assert cell.details["days_left"] == pytest.approx(days_left, abs=0.01)
    if days_left <= 0:
        assert cell.summary.startswith("expired")


def test_certificate_parsing_names_and_host_match() -> None:
    pem = make_certificate(datetime(2026, 9, 1, tzinfo=UTC), ("mail.acme.example", "*.acme.example"))
    info = parse_certificate(pem + b"\n" + make_certificate(datetime(2030, 1, 1, tzinfo=UTC), ("ca",)))
    assert info.not_after == datetime(2026, 9, 1, tzinfo=UTC)  # the leaf, first in the chain
    assert info.subject == "mail.acme.example" and "*.acme.example" in info.names
    assert certificate_cell(info, NOW, host="mail.acme.example").severity is Severity.OK
    assert certificate_cell(info, NOW, host="webmail.acme.example").severity is Severity.OK  # wildcard
    other = certificate_cell(info, NOW, host="mail.other.example")
    assert other.severity is Severity.WARNING and "does not name mail.other.example" in other.summary


def test_no_certificate_and_garbage() -> None:
    none = certificate_cell(None, NOW, host="mail.acme.example")
    assert none.severity is Severity.UNKNOWN and none.summary == "no certificate"
    with pytest.raises(StatusError):
        parse_certificate(b"-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")


# ------------------------------------------------------------------------------------------------ vault
def _node(n: int, **state: bool) -> NodeHealth:
    return NodeHealth(f"https://vault{n}:8200", reachable=state.pop("reachable", True), **state)


def test_vault_health() -> None:
    healthy = vault_cell([_node(1, active=True), _node(2, standby=True), _node(3, standby=True)])
    assert healthy.severity is Severity.OK and healthy.details["reachable"] == 3 and healthy.details["standby"] == 2
    one_down = vault_cell([_node(1, active=True), _node(2, standby=True), _node(3, reachable=False)])
    assert one_down.severity is Severity.WARNING and "2/3 reachable" in one_down.summary
    sealed = vault_cell([_node(1, active=True), _node(2, sealed=True), _node(3, standby=True)])
    assert sealed.severity is Severity.CRITICAL and sealed.details["sealed"] == 1
    no_leader = vault_cell([_node(1, standby=True), _node(2, reachable=False)])
    assert no_leader.severity is Severity.CRITICAL and "no active node" in no_leader.summary
    assert vault_cell([_node(1, reachable=False)]).severity is Severity.CRITICAL


# ------------------------------------------------------------------------------------------------ vps
def _instance(status: str = "ACTIVE", task: str = "", label: str = "pm-acme-1", ip: str = "192.0.2.10") -> Instance:
    return Instance.from_api({"serviceid": "42", "srvrname": label, "status": status, "task_state": task,
                              "main_ip": ip})


def test_vps_states() -> None:
    ok = vps_cell(_instance(), label="pm-acme-1", expected_ip="192.0.2.10", source="stack outputs")
    assert ok.severity is Severity.OK and ok.details["label_matches"] is True and ok.summary == "ACTIVE 192.0.2.10"
    assert vps_cell(_instance("STOPPED"), label="pm-acme-1", expected_ip="", source="x").severity is Severity.CRITICAL
    busy = vps_cell(_instance(task="rebooting"), label="pm-acme-1", expected_ip="", source="x")
    assert busy.severity is Severity.WARNING
    renamed = vps_cell(_instance(label="pm-acme-2"), label="pm-acme-1", expected_ip="", source="x")
    assert renamed.severity is Severity.WARNING and renamed.details["label_matches"] is False
    moved = vps_cell(_instance(), label="pm-acme-1", expected_ip="192.0.2.99", source="x")
    assert moved.severity is Severity.WARNING and "stack says 192.0.2.99" in moved.summary
    assert vps_cell(None, label="pm-acme-1", expected_ip="", source="x").severity is Severity.CRITICAL
    assert vps_cell(_instance("TERMINATED"), label="pm-acme-1", expected_ip="", source="x").severity is (
        Severity.CRITICAL)


# ------------------------------------------------------------------------------------------------ dns
def test_dns_drift() -> None:
    ok = dns_cell(VerifyReport([Check("A mail", "ok"), Check("PTR", "skipped")]))
    assert ok.severity is Severity.OK and ok.summary == "all 2 checks ok"
    drift = dns_cell(VerifyReport([Check("A mail", "missing", "192.0.2.10"), Check("MX", "wrong", "a", "b"),
                                   Check("SPF", "ok")]))
    assert drift.severity is Severity.CRITICAL and drift.summary == "1 missing, 1 wrong"
    assert [p["subject"] for p in drift.details["problems"]] == ["A mail", "MX"]


def test_cell_json_is_flat() -> None:
    assert Cell(Severity.OK, "fine", {"n": 1}).to_json() == {"severity": "ok", "summary": "fine", "n": 1}
