"""``ClusterRollout``: the running cluster brought to what the stack says, one node at a time
(``vault.cluster_rollout``).

Inputs: the wanted nodes (id, API address, host, ``running_digest`` from their ``OpenBaoNode``), the cluster CA,
the cluster operator's AppRole (from ``ClusterInit``), the nodes' admin SSH key (for restarts) and how long to wait
for the operators to unseal. Created right after the init (it records what each node runs); updated whenever a node
is replaced (the new node joined and a voter, the old raft peer removed: the engine then wipes and terminates the old
VPS) or a node's digest changes (a new OpenBao version, config or certificate: restarted standbys first, the leader
last after a step-down, each waiting for the unseal and a healthy cluster). Never replaced; delete does nothing.

Outputs: ``applied`` (node id -> the digest its process runs), ``voters``, ``leader``, and what the last run did
(``removed``, ``restarted`` in order). What a node runs is read from the node first (``running_now``: each start
and restart records it there), so a rollout interrupted after some restarts (operators too slow to unseal) resumes
with the nodes not yet restarted. The SSH key and the AppRole secret id are inputs only (secret).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

import pulumi
import pulumi.dynamic

from components.unknowns import changed_keys, diff_result
from toolkit.redact import Secret
from toolkit.ssh import KnownHosts, SshExecutor
from vault.client import VaultClient
from vault.cluster import ca_bundle_file, update_shares_file
from vault.cluster_host import restart_node, running_now
from vault.cluster_rollout import WantedNode, converge
from vault.config import VaultConfig

SECRET_INPUTS = ("operator_secret_id", "ssh_private_key")
OUTPUT_KEYS = ("applied", "voters", "leader", "removed", "restarted")


def _say(message: str) -> None:
    print(f"pm-vault-cluster: {message}", file=sys.stderr, flush=True)


def _run(props: dict[str, Any], applied: dict[str, str]) -> dict[str, Any]:
    nodes = [WantedNode(str(n["node_id"]), str(n["address"]), str(n["digest"])) for n in props["nodes"]]
    hosts = {str(n["node_id"]): str(n["host"]) for n in props["nodes"]}
    key = Secret(str(props["ssh_private_key"]))

    def shell(node_id: str) -> SshExecutor:
        return SshExecutor(hosts[node_id], key, known_hosts=KnownHosts(lines=[], trust_on_first_use=True))

    def restart(node: WantedNode) -> None:
        with shell(node.node_id) as ex:
            restart_node(ex, node.digest)

    for node in nodes:  # facts before changes: what each process runs, as its host says
        with shell(node.node_id) as ex:
            applied = {**applied, node.node_id: running_now(ex) or applied.get(node.node_id, "")}
    applied = {k: v for k, v in applied.items() if v}

    addresses = tuple(n.address for n in nodes)
    with tempfile.TemporaryDirectory(prefix="pm-vault-rollout-") as directory:
        ca_file = ca_bundle_file(str(props["ca_cert"]), Path(directory))
        if props.get("shares_file"):
            update_shares_file(Path(str(props["shares_file"])), list(addresses), str(props["ca_cert"]))
        config = VaultConfig(addresses, role_id=str(props["operator_role_id"]),
                             secret_id=Secret(str(props["operator_secret_id"])), verify=ca_file)
        with VaultClient(config) as client:
            result = converge(client, nodes, applied, restart=restart, verify=ca_file,
                              unseal_wait=float(props["unseal_wait"]), say=_say)
    public = {k: v for k, v in props.items() if k not in SECRET_INPUTS}
    return {**public, "applied": result.applied, "voters": result.voters, "leader": result.leader,
            "removed": result.removed, "restarted": result.restarted}


class _RolloutProvider(pulumi.dynamic.ResourceProvider):
    serialize_as_secret_always = False

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        return pulumi.dynamic.CreateResult(id_="rollout", outs=_run(props, {}))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        return diff_result([], changed_keys(olds, news, ("nodes",)), delete_before_replace=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        return pulumi.dynamic.UpdateResult(outs=_run(news, dict(olds.get("applied") or {})))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return None


class ClusterRollout(pulumi.dynamic.Resource, module="vault", name="ClusterRollout"):
    """The cluster's membership and restarts kept to the stack (see the module docstring)."""

    applied: pulumi.Output[dict[str, str]]
    voters: pulumi.Output[list[str]]
    leader: pulumi.Output[str]
    removed: pulumi.Output[list[str]]
    restarted: pulumi.Output[list[str]]

    def __init__(self, name: str, *, nodes: list[pulumi.Output[dict[str, Any]]], ca_cert: pulumi.Input[str],
                 operator_role_id: pulumi.Input[str], operator_secret_id: pulumi.Input[str],
                 ssh_private_key: pulumi.Input[str], shares_file: str, unseal_wait: float,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        props: dict[str, Any] = {
            "nodes": nodes, "ca_cert": ca_cert, "operator_role_id": operator_role_id,
            "operator_secret_id": operator_secret_id, "ssh_private_key": ssh_private_key, "shares_file": shares_file,
            "unseal_wait": unseal_wait, **{key: None for key in OUTPUT_KEYS}}
        super().__init__(_RolloutProvider(), name, props, opts)
