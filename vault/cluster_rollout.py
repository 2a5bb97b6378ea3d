"""Day-2 changes of a running raft cluster, one node at a time and never below the quorum (what the cluster stack's
``ClusterRollout`` resource runs after the engine has made or changed the nodes).

``converge`` takes the nodes the stack wants (id, address, and the digest of what the node's process should run:
binary, config, certificates) and what each node last ran (``applied``), then:

1. waits until every wanted node is unsealed, a raft voter and healthy for autopilot: a replacement node joined
   through ``retry_join`` and was unsealed (by the operators' shares, or by itself with auto-unseal); the node it
   replaces may be dead (a failed VPS is the usual reason to replace one);
2. removes the raft peer of every server the stack no longer wants (a replaced node), stepping the leader down first
   if it is one of them, and waits for the cluster to be healthy without it;
3. restarts every node whose digest differs from what it runs, standbys first and the leader last after a step-down,
   waiting after each restart for the node to be unsealed and the cluster healthy before touching the next one: at
   most one node is ever down, so two of three always keep the quorum.

The restart itself (SSH) and what the operators are told are the caller's (``restart``, ``say``): this module knows
the Vault API only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from toolkit.errors import ToolkitError
from toolkit.wait import wait_for
from vault.client import VaultClient
from vault.cluster import raft_servers
from vault.cluster_host import api_address
from vault.nodes import probe_node

POLL = 0.25


class RolloutStalled(ToolkitError):
    """The cluster did not become healthy in time after a change; the change stopped there (the rest is untouched)."""


@dataclass(frozen=True)
class WantedNode:
    node_id: str
    address: str
    """The node's API address (``https://<ip>:8200``)."""
    digest: str
    """What the node's process should run (binary, config, certificates): a restart applies a new one."""


@dataclass
class RolloutResult:
    voters: list[str]
    leader: str
    removed: list[str] = field(default_factory=list)
    restarted: list[str] = field(default_factory=list)
    """Node ids in the order they were restarted."""
    applied: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Health:
    healthy: bool
    voters: tuple[str, ...]
    sealed: tuple[str, ...]


def autopilot_state(client: VaultClient) -> dict[str, Any]:
    reply = client.read("sys/storage/raft/autopilot/state") or {}
    data = reply.get("data") or {}
    return data if isinstance(data, dict) else {}


def _health(client: VaultClient, nodes: list[WantedNode], verify: str | bool) -> Health:
    state = autopilot_state(client)
    servers = state.get("servers") or {}
    voters = tuple(sorted(sid for sid, s in servers.items() if isinstance(s, dict)
                          and s.get("status") in ("leader", "voter")))
    # Only the wanted nodes count: a failed node being replaced is unhealthy until its peer is removed.
    wanted_ok = all(bool((servers.get(n.node_id) or {}).get("healthy")) for n in nodes)
    sealed = tuple(n.node_id for n in nodes if not _unsealed(n.address, verify))
    return Health(healthy=wanted_ok and not sealed, voters=voters, sealed=sealed)


def _unsealed(address: str, verify: str | bool) -> bool:
    node = probe_node(address, timeout=2.0, verify=verify)
    return node.reachable and node.initialized and not node.sealed


def wait_healthy(client: VaultClient, nodes: list[WantedNode], *, verify: str | bool, timeout: float,
                 say: Callable[[str], None], why: str) -> Health:
    """Every wanted node unsealed, a voter and healthy for autopilot (other servers do not count); tells the
    operators once which nodes wait for their shares."""
    told: set[str] = set()
    wanted = {n.node_id for n in nodes}
    last: list[Health] = []

    def ready() -> bool:
        try:
            health = _health(client, nodes, verify)
        except ToolkitError:
            return False  # a leader election in progress: the next poll asks again
        last[:] = [health]
        for node_id in set(health.sealed) - told:
            told.add(node_id)
            address = next(n.address for n in nodes if n.node_id == node_id)
            say(f"{node_id} ({address}) is sealed: operators, run `invoke vault.unseal` (a share each, up to the "
                "threshold); with auto-unseal it unseals itself")
        return health.healthy and wanted <= set(health.voters)

    wait_for(ready, what=f"the cluster to be healthy ({why})", timeout=timeout, interval=POLL,
             fail=lambda _t: RolloutStalled(
                 f"the cluster was not healthy within {timeout:.0f} s {why}: "
                 + (f"sealed {list(last[0].sealed)}, voters {list(last[0].voters)}" if last else "no answer")
                 + "; nothing further was changed: unseal the nodes (`invoke vault.unseal`) and run `pulumi up` again"))
    return last[0]


def step_down_from(client: VaultClient, node: WantedNode | str, addresses: list[str], *, verify: str | bool,
                   timeout: float = 60.0) -> str:
    """Make the active node give up leadership (``sys/step-down``) until another one is active; the new leader's
    address."""
    old = node.address if isinstance(node, WantedNode) else node

    def moved() -> str | None:
        active = [a for a in addresses if probe_node(a, timeout=2.0, verify=verify).active]
        if active and active[0] != old:
            return active[0]
        if old in active:
            client.request("PUT", "sys/step-down", address=old)
        return None

    found = wait_for(moved, lambda a: a is not None, what=f"leadership to move off {old}", timeout=timeout,
                     interval=1.0, tolerate=(ToolkitError,),
                     fail=lambda _t: RolloutStalled(f"{old} kept the leadership after step-down for {timeout:.0f} s"))
    assert found is not None
    return found


def _leader_address(nodes: list[WantedNode], verify: str | bool) -> str:
    return next((n.address for n in nodes if probe_node(n.address, timeout=2.0, verify=verify).active), "")


def remove_unwanted(client: VaultClient, nodes: list[WantedNode], *, verify: str | bool, timeout: float,
                    say: Callable[[str], None]) -> list[str]:
    """Remove the raft peer of every server the stack no longer wants (the leader steps down first)."""
    wanted = {n.node_id for n in nodes}
    gone = [s for s in raft_servers(client) if str(s.get("node_id")) not in wanted]
    removed: list[str] = []
    for server in gone:
        node_id, address = str(server.get("node_id")), str(server.get("address") or "")
        if server.get("leader"):
            api = api_address(address.rsplit(":", 1)[0])  # raft lists the cluster address (port 8201)
            step_down_from(client, api, [api, *[n.address for n in nodes]], verify=verify, timeout=timeout)
        client.write("sys/storage/raft/remove-peer", {"server_id": node_id})
        say(f"{node_id}: raft peer removed (replaced)")
        removed.append(node_id)
    return removed


def converge(client: VaultClient, nodes: list[WantedNode], applied: dict[str, str], *,
             restart: Callable[[WantedNode], None], verify: str | bool, unseal_wait: float,
             say: Callable[[str], None]) -> RolloutResult:
    """Join, remove and restart as the module docstring says; what each node runs afterwards is in ``applied``."""
    wait_healthy(client, nodes, verify=verify, timeout=unseal_wait, say=say, why="before any change")
    removed = remove_unwanted(client, nodes, verify=verify, timeout=60.0, say=say)
    if removed:
        wait_healthy(client, nodes, verify=verify, timeout=unseal_wait, say=say, why="after removing replaced peers")
    done = {n.node_id: applied.get(n.node_id, n.digest) for n in nodes}  # a new node runs what it was started with
    stale = [n for n in nodes if done[n.node_id] != n.digest]
    leader = _leader_address(nodes, verify)
    stale.sort(key=lambda n: n.address == leader)  # standbys first, the leader last
    restarted: list[str] = []
    for node in stale:
        if probe_node(node.address, timeout=2.0, verify=verify).active:
            new_leader = step_down_from(client, node, [n.address for n in nodes], verify=verify)
            say(f"{node.node_id}: stepped down, {new_leader} leads")
        started = time.monotonic()
        restart(node)
        say(f"{node.node_id}: restarted to run its new binary/config")
        wait_healthy(client, nodes, verify=verify, timeout=unseal_wait, say=say,
                     why=f"after restarting {node.node_id}")
        say(f"{node.node_id}: back, cluster healthy ({time.monotonic() - started:.1f} s)")
        done[node.node_id] = node.digest
        restarted.append(node.node_id)
    voters = sorted(str(s.get("node_id")) for s in raft_servers(client) if s.get("voter"))
    return RolloutResult(voters=voters, leader=_leader_address(nodes, verify), removed=removed,
                         restarted=restarted, applied=done)
