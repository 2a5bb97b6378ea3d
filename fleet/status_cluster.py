"""The "Vault cluster" section of `invoke status`: one fleet-wide check of the Vault every tenant uses.

Per node (``VAULT_ADDRS``): its ``sys/health`` state (no token needed, ``vault.nodes``) and the expiry of the
certificate it serves (a TLS handshake verified with ``VAULT_CACERT``); per raft server: leader or voter, healthy,
and how far its last applied index lags behind the leader's (``sys/storage/raft/autopilot/state``, read through the
one Vault client with the status credentials; the cluster stack's ``vault-cluster`` policy may read it).

Severity: a sealed node, no active node or a lost quorum is critical; an unreachable node, fewer voters than nodes,
a raft server unhealthy or lagging more than ``LAG_WARNING`` entries, a certificate within 30 days is a warning
(within 7 days or expired: critical); raft state that could not be read is unknown.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509

from fleet.status_cert import CERT_THRESHOLDS_DAYS
from fleet.status_model import Cell, Severity, days, worst
from toolkit.clock import iso
from toolkit.redact import scrub
from vault.client import VaultClient
from vault.config import VaultConfig, addresses_from_env, verify_from_env
from vault.nodes import NodeHealth, probe_all

LAG_WARNING = 1000
"""Raft entries a server may trail the leader's last index before it is a warning."""
AUTOPILOT_STATE = "sys/storage/raft/autopilot/state"


@dataclass(frozen=True)
class NodeCert:
    address: str
    not_after: datetime | None = None
    error: str = ""
    """Why no expiry is known ("plain http", the TLS error)."""


def node_certificate(address: str, *, verify: bool | str, timeout: float = 3.0) -> NodeCert:
    """The expiry of the certificate ``address`` serves, the handshake verified like every Vault call."""
    parts = urlsplit(address)
    if parts.scheme != "https":
        return NodeCert(address, error="plain http")
    host, port = parts.hostname or "", parts.port or 443
    context = ssl.create_default_context(cafile=verify if isinstance(verify, str) else None)
    if verify is False:
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw, \
                context.wrap_socket(raw, server_hostname=host) as tls:
            der = tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError) as exc:
        return NodeCert(address, error=f"{type(exc).__name__}: {scrub(str(exc))[:160]}")
    if not der:
        return NodeCert(address, error="no certificate")
    return NodeCert(address, x509.load_der_x509_certificate(der).not_valid_after_utc)


def _node_line(node: NodeHealth, cert: NodeCert | None, now: datetime) -> dict[str, Any]:
    state = ("unreachable" if not node.reachable else "sealed" if node.sealed else "active" if node.active
             else "standby" if node.standby else "uninitialised" if not node.initialized else "unhealthy")
    line: dict[str, Any] = {"address": node.address, "state": state}
    if cert is not None and cert.not_after is not None:
        line.update(cert_not_after=iso(cert.not_after), cert_days_left=days(cert.not_after - now))
    elif cert is not None:
        line["cert"] = cert.error
    return line


def _cert_severity(left_days: float) -> Severity:
    crossed = [d for d in CERT_THRESHOLDS_DAYS if left_days <= d]
    if left_days <= 0 or (crossed and min(crossed) < CERT_THRESHOLDS_DAYS[0]):
        return Severity.CRITICAL
    return Severity.WARNING if crossed else Severity.OK


def raft_lines(state: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One line per raft server of an autopilot state: id, status (leader/voter/non-voter), healthy, lag."""
    servers = [s for s in (state.get("servers") or {}).values() if isinstance(s, Mapping)]
    top = max((int(s.get("last_index") or 0) for s in servers), default=0)
    return [{"node_id": str(s.get("id") or s.get("name") or ""), "status": str(s.get("status") or ""),
             "healthy": bool(s.get("healthy")), "last_index": int(s.get("last_index") or 0),
             "lag": top - int(s.get("last_index") or 0)} for s in sorted(servers, key=lambda s: str(s.get("id")))]


def cluster_cell(nodes: Sequence[NodeHealth], certs: Mapping[str, NodeCert], raft: Mapping[str, Any] | None,
                 raft_error: str, now: datetime) -> Cell:
    """The section's severity, one-line summary and details (nodes, raft servers, problems)."""
    lines = [_node_line(n, certs.get(n.address), now) for n in nodes]
    problems: list[tuple[Severity, str]] = []
    reachable = [n for n in nodes if n.reachable]
    sealed = [n.address for n in reachable if n.sealed]
    active = [n.address for n in reachable if n.active and not n.sealed]
    if sealed:
        problems.append((Severity.CRITICAL, f"sealed: {', '.join(sealed)}"))
    if not active:
        problems.append((Severity.CRITICAL, "no active node"))
    if len(reachable) < len(nodes):
        lost = len(nodes) - len(reachable) > (len(nodes) - 1) // 2
        problems.append((Severity.CRITICAL if lost else Severity.WARNING,
                         f"{len(nodes) - len(reachable)} of {len(nodes)} unreachable" + (" (quorum lost)" if lost
                                                                                         else "")))
    for line in lines:
        if "cert_days_left" in line and (severity := _cert_severity(line["cert_days_left"])) is not Severity.OK:
            problems.append((severity, f"{line['address']} certificate {line['cert_days_left']:.0f} d left"))
    details: dict[str, Any] = {"leader": active[0] if active else None, "nodes": lines}
    if raft is None:
        problems.append((Severity.UNKNOWN, f"raft state unreadable: {raft_error}"))
        details["raft_error"] = raft_error
    else:
        servers = raft_lines(raft)
        voters = [s for s in servers if s["status"] in ("leader", "voter")]
        details.update(leader_node=raft.get("leader"), voters=len(voters), failure_tolerance=raft.get(
            "failure_tolerance"), max_lag=max((s["lag"] for s in servers), default=0), raft=servers)
        if len(voters) < len(nodes):
            problems.append((Severity.WARNING, f"{len(voters)} voters for {len(nodes)} nodes"))
        problems += [(Severity.WARNING, f"raft {s['node_id']} " + ("unhealthy" if not s["healthy"] else
                      f"lags {s['lag']} entries")) for s in servers if not s["healthy"] or s["lag"] > LAG_WARNING]
    severity = worst(s for s, _ in problems)
    details["problems"] = [text for _, text in problems]
    summary = (f"leader {active[0] if active else 'none'}, {details.get('voters', '?')} voters, "
               f"{len(sealed)} sealed, lag {details.get('max_lag', '?')}")
    if certs and (left := [ln["cert_days_left"] for ln in lines if "cert_days_left" in ln]):
        summary += f", certs {min(left):.0f} d"
    return Cell(severity, summary + (f"; {problems[0][1]}" if problems else ""), details)


def read_cluster(env: Mapping[str, str], now: datetime, *, timeout: float = 3.0, deadline: float = 10.0) -> Cell:
    """The live section: health of every node (no token), certificates, raft state with the status credentials."""
    addresses, verify = addresses_from_env(env), verify_from_env(env)
    if not addresses:
        return Cell(Severity.UNKNOWN, "no Vault address (VAULT_ADDR(S))", {"problems": ["no Vault address"]})
    nodes = probe_all(addresses, timeout=timeout, verify=verify)
    certs = {a: node_certificate(a, verify=verify, timeout=timeout) for a in addresses}
    raft: dict[str, Any] | None = None
    error = ""
    try:
        config = VaultConfig.from_env(env, op_deadline=deadline, timeout=timeout)
        with VaultClient(config, manage_token=False) as client:
            reply = client.read(AUTOPILOT_STATE) or {}
        raft = dict(reply.get("data") or reply)
    except Exception as exc:  # any failure is this section's "unknown", never a crash of the report
        error = f"{type(exc).__name__}: {scrub(str(exc)).splitlines()[0][:200] if str(exc).strip() else ''}"
    return cluster_cell(nodes, certs, raft, error, now)


__all__ = ["LAG_WARNING", "NodeCert", "cluster_cell", "node_certificate", "raft_lines", "read_cluster"]
