"""The health of Vault nodes: the one ``sys/health`` probe, and the active node found with it.

``sys/health?standbyok=false`` answers 200 on the active node, 429 (or 473, performance standby) on an unsealed
standby, 501 when not initialised and 503 when sealed; the body says ``initialized`` and ``sealed`` too. The probe
needs no token, so health shows even when authentication fails. ``VaultClient`` orders its nodes with it, backups
find the node to snapshot, restores wait for sealed nodes, ``invoke status`` reports it and ``vault.server`` starts
its clusters with it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

import requests

from toolkit.wait import Clock, Sleep, wait_for
from vault.errors import VaultUnavailable

ACTIVE_POLL_INTERVAL = 0.25
"""Seconds between two rounds of probes while waiting for an active node."""


@dataclass(frozen=True)
class NodeHealth:
    address: str
    reachable: bool
    active: bool = False
    standby: bool = False
    sealed: bool = False
    initialized: bool = True


def probe_node(address: str, *, timeout: float = 1.0, verify: bool | str = True) -> NodeHealth:
    """``sys/health`` of one node; never raises (an unreachable node is reported as such)."""
    try:
        reply = requests.get(f"{address}/v1/sys/health", params={"standbyok": "false"}, timeout=timeout,
                             verify=verify)
    except requests.RequestException:
        return NodeHealth(address, reachable=False, initialized=False)
    try:
        body = reply.json()
    except ValueError:
        body = None
    body = body if isinstance(body, dict) else {}
    status = reply.status_code
    return NodeHealth(
        address, reachable=True, active=status == 200, standby=status in (429, 473),
        sealed=status == 503 or bool(body.get("sealed", False)),
        initialized=bool(body.get("initialized", status != 501)),
    )


def probe_all(addresses: Iterable[str], *, timeout: float = 1.0, verify: bool | str = True) -> list[NodeHealth]:
    return [probe_node(address, timeout=timeout, verify=verify) for address in addresses]


def find_active(addresses: Iterable[str], *, wait: float = 0.0, timeout: float = 1.0, verify: bool | str = True,
                clock: Clock = time.monotonic, sleep: Sleep = time.sleep) -> str:
    """The address of the active node, probing every node in turn for up to ``wait`` seconds (0: one round).
    Raises ``VaultUnavailable`` naming the nodes when none is active."""
    nodes = tuple(addresses)

    def active() -> str | None:
        return next((a for a in nodes if probe_node(a, timeout=timeout, verify=verify).active), None)

    found = wait_for(
        active, lambda address: address is not None, what=f"an active Vault node among {', '.join(nodes)}",
        timeout=wait, interval=ACTIVE_POLL_INTERVAL, clock=clock, sleep=sleep,
        fail=lambda _timeout: VaultUnavailable(f"no active Vault node among {', '.join(nodes)}"),
    )
    assert found is not None
    return found
