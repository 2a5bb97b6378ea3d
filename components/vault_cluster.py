"""``VaultCluster``: the platform's Vault as one Pulumi component (the ``platform/vault`` project's program).

Order (dependencies drive the engine): the cluster CA and the nodes' admin SSH key, made in memory
(``ClusterSecrets``, secret outputs) -> the admin public key registered with Hostwinds -> one VPS per node (the
tenants' ``Instance`` resource; label ``pm-vault-<cluster>-<index>-<generation>``) -> OpenBao installed and started
on each over SSH (``OpenBaoNode``: pinned binary, raft config with ``retry_join`` over verified TLS, audit device,
service unit) -> the cluster initialised once (``ClusterInit``: PGP-encrypted Shamir shares, unsealed by the
operators, bootstrap, root token revoked) -> the running cluster kept to the stack (``ClusterRollout``: a replaced
node joined before the old raft peer is removed, new binaries/configs/certificates applied by rolling restarts).

Day 2 through the engine: a ``node_generations`` bump replaces that node (new VPS, joined, old peer removed, old VPS
wiped and terminated: the old resources are deleted last); a new ``openbao`` version or certificate generation
updates every node's files and the rollout restarts them one at a time, standbys first.

Outputs hold public facts (addresses, CA certificate, node ids, certificate expiry, voters, audit devices, role
ids) and, as secrets, the encrypted shares and the AppRole credentials.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pulumi

from components.hostwinds_instance import Instance
from components.hostwinds_network import SshKey
from components.vault_cluster_init import ClusterInit
from components.vault_cluster_node import ClusterSecrets, OpenBaoNode
from components.vault_cluster_rollout import ClusterRollout
from vault.cluster_config import ClusterConfig
from vault.cluster_host import api_address

COMPONENT_TYPE = "pm:vault:Cluster"


def _wanted(node_id: str) -> Callable[[list[Any]], dict[str, Any]]:
    """(main ip, running digest) -> the node as ``ClusterRollout`` wants it."""
    return lambda v: {"node_id": node_id, "host": str(v[0]), "address": api_address(str(v[0])), "digest": str(v[1])}


class VaultCluster(pulumi.ComponentResource):
    def __init__(self, name: str, config: ClusterConfig, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        cluster, hw = config.cluster_name, config.hostwinds
        secrets = ClusterSecrets(f"{name}-secrets", cluster_name=cluster, seal=config.seal, opts=child)
        key_name = f"pm-vault-{cluster}-admin"
        registered = SshKey(f"{name}-admin-key", name=key_name, public_key=secrets.ssh_public_key,
                            api_url=hw.api_url, opts=child)
        instances = [
            Instance(f"{name}-vps-{index}", label=config.label(index), location_id=hw.location, plan_id=hw.size,
                     image=hw.image, ssh_key_names=[key_name], api_url=hw.api_url, poll_interval=hw.poll_interval,
                     poll_timeout=hw.poll_timeout, generation=config.generation(index),
                     opts=pulumi.ResourceOptions(parent=self, depends_on=[registered]))
            for index in range(config.nodes)
        ]
        ips = [vps.main_ip for vps in instances]
        source = dataclasses.asdict(config.openbao)
        nodes = []
        node_ids = [f"{cluster}-{index}-g{config.generation(index)}" for index in range(config.nodes)]
        for index, vps in enumerate(instances):
            others = pulumi.Output.all(*[ip for j, ip in enumerate(ips) if j != index])
            nodes.append(OpenBaoNode(
                f"{name}-openbao-{index}", host=vps.main_ip, node_id=node_ids[index],
                cluster_dns=config.dns_name, peers=others, ca_cert=secrets.ca_cert, ca_key=secrets.ca_key,
                ssh_private_key=secrets.ssh_private_key, openbao=source, cert_generation=config.cert_generation,
                seal_key=secrets.seal_key,
                seal_key_id=secrets.seal_key_id, opts=child))
        addresses = pulumi.Output.all(*ips).apply(lambda values: [api_address(str(v)) for v in values])
        init = ClusterInit(
            f"{name}-init", addresses=addresses, ca_cert=secrets.ca_cert,
            pgp_keys=[k.base64 for k in config.pgp_keys], fingerprints=[k.fingerprint for k in config.pgp_keys],
            threshold=config.threshold, shares_file=str(config.shares_file), unseal_wait=config.unseal_wait,
            seal=config.seal, opts=pulumi.ResourceOptions(parent=self, depends_on=nodes))
        rollout = ClusterRollout(
            f"{name}-rollout", nodes=[
                pulumi.Output.all(vps.main_ip, node.running_digest).apply(_wanted(node_id))
                for node_id, vps, node in zip(node_ids, instances, nodes, strict=True)],
            ca_cert=secrets.ca_cert, operator_role_id=config.operator_role_id or init.operator_role_id,
            operator_secret_id=(pulumi.Output.secret(config.operator_secret_id.reveal())
                                if config.operator_secret_id is not None else init.operator_secret_id),
            ssh_private_key=secrets.ssh_private_key,
            shares_file=str(config.shares_file), unseal_wait=config.unseal_wait,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[init, *nodes]))
        outputs: dict[str, object] = {
            "cluster_name": cluster,
            "seal": config.seal,
            "addresses": addresses,
            "vault_addrs": addresses.apply(",".join),
            "ca_cert": secrets.ca_cert,
            "ca_not_after": secrets.ca_not_after,
            "nodes": [{"label": config.label(i), "serviceid": vps.serviceid, "address": vps.main_ip,
                       "cert_not_after": node.cert_not_after, "binary_sha256": node.binary_sha256}
                      for i, (vps, node) in enumerate(zip(instances, nodes, strict=True))],
            "shares_file": str(config.shares_file),
            "unseal_shares": init.shares,
            "voters": rollout.voters,
            "leader": rollout.leader,
            "last_rollout": {"removed": rollout.removed, "restarted": rollout.restarted},
            "audit_devices": init.audit_devices,
            "system_role_id": init.system_role_id,
            "system_secret_id_wrapped": init.system_secret_id_wrapped,
            "operator_role_id": init.operator_role_id,
            "operator_secret_id": init.operator_secret_id,
            "backup_role_id": init.backup_role_id,
            "backup_secret_id": init.backup_secret_id,
        }
        self.outputs = outputs
        self.register_outputs(outputs)
