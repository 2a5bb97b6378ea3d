"""The SMTP emergency reset's pure parts: the incident id is required and checked, the intent edit, and the trigger
that carries the incident to the key resource (and only for the generation it made)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from components.tenant import smtp_trigger
from fleet import day2_ops, intent, smtp_reset
from fleet.intent import DkimIntent, SmtpEmergency, TenantIntent
from toolkit.clock import parse_instant
from toolkit.errors import ValidationError
from vault import smtp

T0 = parse_instant("2026-12-01T09:00:00Z")


def test_an_emergency_needs_a_valid_incident_id() -> None:
    with pytest.raises(smtp_reset.EmergencyRefused, match="--incident"):
        smtp_reset.incident_id_of("", emergency=True)
    assert smtp_reset.incident_id_of("", emergency=False) is None  # the scheduled rotation
    assert smtp_reset.incident_id_of("INC-2026-042", emergency=False) == "INC-2026-042"  # an id means emergency
    for bad in ("INC 42", "inc;rm", "x" * 65, "../INC"):
        with pytest.raises(ValidationError, match="incident"):
            smtp_reset.incident_id_of(bad, emergency=True)


def test_the_incident_reaches_the_key_resource_for_its_generation_only() -> None:
    record = TenantIntent("acme", DkimIntent("pm20261201", "n"), smtp_generation=3)
    assert smtp_trigger(record) == "generation-3" and smtp.incident_in(smtp_trigger(record)) is None
    reset = day2_ops.emergency_smtp("INC-42")(record, T0)
    assert reset.smtp_generation == 4 and reset.smtp_emergency == SmtpEmergency(4, "INC-42", "2026-12-01T09:00:00Z")
    assert smtp_trigger(reset) == "generation-4-incident-INC-42" and smtp.incident_in(smtp_trigger(reset)) == "INC-42"
    later = day2_ops.rotate_smtp(reset, T0)  # a scheduled rotation afterwards is an ordinary one
    assert smtp_trigger(later) == "generation-5" and smtp.incident_in(smtp_trigger(later)) is None
    assert intent.from_data("acme", reset.to_data(), 2) == replace(reset, revision=2)
    assert smtp.rotation_trigger(1) == "" and smtp.incident_in("generation-4-incident-") is None
    with pytest.raises(ValidationError):
        day2_ops.emergency_smtp("INC 42")
