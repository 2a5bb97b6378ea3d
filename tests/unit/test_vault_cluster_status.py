"""The fleet-wide "Vault cluster" section of `invoke status` (fleet.status_cluster): grading of node health, raft
state and node certificates, and its rendering."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from rich.console import Console

from fleet.status_cluster import LAG_WARNING, NodeCert, cluster_cell, node_certificate, raft_lines
from fleet.status_model import Severity
from tasks_lib.status import cluster_table
from vault.nodes import NodeHealth

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
ADDRS = [f"https://10.0.0.{i}:8200" for i in (1, 2, 3)]


def _nodes(*states: str) -> list[NodeHealth]:
    return [NodeHealth(a, reachable=s != "down", active=s == "active", standby=s == "standby", sealed=s == "sealed")
            for a, s in zip(ADDRS, states, strict=True)]


def _certs(days_left: float = 300.0) -> dict[str, NodeCert]:
    return {a: NodeCert(a, NOW + timedelta(days=days_left)) for a in ADDRS}


def _raft(*indexes: int, voters: int = 3, healthy: bool = True) -> dict[str, Any]:
    servers = {f"node{i}": {"id": f"node{i}", "status": "leader" if i == 0 else "voter" if i < voters else
                            "non-voter", "healthy": healthy, "last_index": index}
               for i, index in enumerate(indexes)}
    return {"leader": "node0", "failure_tolerance": 1, "servers": servers}


def test_a_healthy_cluster_is_ok_with_leader_voters_lag_and_certificates() -> None:
    cell = cluster_cell(_nodes("active", "standby", "standby"), _certs(), _raft(120, 119, 120), "", NOW)
    assert cell.severity is Severity.OK, cell
    assert cell.summary == f"leader {ADDRS[0]}, 3 voters, 0 sealed, lag 1, certs 300 d"
    assert cell.details["leader"] == ADDRS[0] and cell.details["leader_node"] == "node0"
    assert [n["state"] for n in cell.details["nodes"]] == ["active", "standby", "standby"]
    assert cell.details["nodes"][0]["cert_days_left"] == 300.0
    assert [r["lag"] for r in cell.details["raft"]] == [0, 1, 0] and cell.details["problems"] == []


def test_sealed_node_no_leader_and_lost_quorum_are_critical() -> None:
    sealed = cluster_cell(_nodes("active", "sealed", "standby"), _certs(), _raft(5, 5, 5), "", NOW)
    assert sealed.severity is Severity.CRITICAL and f"sealed: {ADDRS[1]}" in sealed.summary
    lost = cluster_cell(_nodes("standby", "down", "down"), _certs(), _raft(5, 5, 5), "", NOW)
    assert lost.severity is Severity.CRITICAL
    assert "no active node" in lost.details["problems"] and "2 of 3 unreachable (quorum lost)" in lost.details[
        "problems"]
    one_down = cluster_cell(_nodes("active", "standby", "down"), _certs(), _raft(5, 5, 5), "", NOW)
    assert one_down.severity is Severity.WARNING and "1 of 3 unreachable" in one_down.details["problems"]


def test_lag_missing_voters_and_unhealthy_servers_are_warnings() -> None:
    lagging = cluster_cell(_nodes("active", "standby", "standby"), _certs(),
                           _raft(5000, 5000, 5000 - LAG_WARNING - 1), "", NOW)
    assert lagging.severity is Severity.WARNING and f"raft node2 lags {LAG_WARNING + 1} entries" in lagging.summary
    two_voters = cluster_cell(_nodes("active", "standby", "standby"), _certs(), _raft(5, 5, 5, voters=2), "", NOW)
    assert two_voters.severity is Severity.WARNING and "2 voters for 3 nodes" in two_voters.details["problems"]
    unhealthy = cluster_cell(_nodes("active", "standby", "standby"), _certs(), _raft(5, 5, 5, healthy=False), "",
                             NOW)
    assert unhealthy.severity is Severity.WARNING and "raft node0 unhealthy" in unhealthy.details["problems"]


def test_certificate_expiry_thresholds() -> None:
    nodes = _nodes("active", "standby", "standby")
    for days_left, expected in ((31, Severity.OK), (20, Severity.WARNING), (6, Severity.CRITICAL),
                                (-1, Severity.CRITICAL)):
        cell = cluster_cell(nodes, _certs(days_left), _raft(5, 5, 5), "", NOW)
        assert cell.severity is expected, (days_left, cell)


def test_unreadable_raft_state_is_unknown_and_names_the_error() -> None:
    cell = cluster_cell(_nodes("active", "standby", "standby"), _certs(), None, "VaultPermissionDenied: 403", NOW)
    assert cell.severity is Severity.UNKNOWN
    assert cell.details["raft_error"] == "VaultPermissionDenied: 403" and "?" in cell.summary


def test_plain_http_has_no_certificate_and_raft_lines_tolerate_missing_fields() -> None:
    assert node_certificate("http://127.0.0.1:1", verify=True).error == "plain http"
    assert raft_lines({"servers": {"a": {"id": "a"}}}) == [
        {"node_id": "a", "status": "", "healthy": False, "last_index": 0, "lag": 0}]


def test_the_section_renders_nodes_raft_and_problems() -> None:
    cell = cluster_cell(_nodes("active", "sealed", "standby"), _certs(), _raft(9, 3, 9), "", NOW)
    console = Console(width=200, record=True, color_system=None)
    console.print(cluster_table(cell))
    text = console.export_text()
    for word in ("Vault cluster: critical", f"address={ADDRS[1]}, state=sealed", "node_id=node1", "lag=6",
                 f"sealed: {ADDRS[1]}"):
        assert word in text, text
