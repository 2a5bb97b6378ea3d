"""The handover record: a key version is its number and the time Vault created it (a tenant purged and created
again starts with nothing handed over); the record round-trips and a malformed one is named, never trusted."""

from __future__ import annotations

import pytest

from vault.handover import Handover, HandoverRecord, HandoverRefused, from_data

GIVEN = Handover("vps/acme/tenant_ssh", 1, "2026-11-01T10:00:00.1Z", "2026-11-02T09:00:00Z", "alice", "acc1",
                 "env1", "2026-11-02T09:15:00Z")


def test_a_version_counts_as_handed_over_only_with_the_same_creation_time() -> None:
    record = HandoverRecord("acme", (GIVEN,), revision=1)
    assert record.of_key(1, "2026-11-01T10:00:00.1Z") == (GIVEN,)
    assert record.of_key(1, "2026-12-24T08:00:00.5Z") == ()  # purged and created again: a different key
    assert record.of_key(2, "2026-11-01T10:00:00.1Z") == ()


def test_the_record_round_trips() -> None:
    again = Handover(**{**GIVEN.__dict__, "override_reason": "token expired unused"})
    record = HandoverRecord("acme", (GIVEN, again), revision=4)
    assert from_data("acme", record.to_data(), 4) == record
    assert record.to_data()["record_version"] == 1


@pytest.mark.parametrize("data", [{"handovers": [{"secret": "x"}]}, {"handovers": ["nonsense"]},
                                  {"handovers": [{**GIVEN.__dict__, "version": "one"}]}])
def test_a_malformed_record_is_named(data: dict[str, object]) -> None:
    with pytest.raises(HandoverRefused, match="vps/acme/handover"):
        from_data("acme", data, 1)
