"""``ClusterInit``: the one-time initialisation of the Vault cluster (``vault.cluster.initialise``), as a resource.

With ``seal: static`` the shares are recovery shares (``recovery_pgp_keys``) and the nodes unseal themselves.

create: refuses an unreachable node or an initialised cluster before writing anything, initialises with the
operators' PGP keys (Shamir shares encrypted by OpenBao), hands the encrypted shares to ``invoke vault.unseal``
(``shares_file``), waits for the operators to unseal every node, applies ``vault.bootstrap``, makes the cluster
operator's AppRole, checks every node votes and the audit device is on, and revokes the root token. The root token
is never an output, never in state, never printed.

Outputs: the encrypted shares with their keys' fingerprints, the system AppRole's role id and a wrapped secret id
(single use, 24 h), the cluster operator's and the backup AppRole's credentials, voters, audit devices, leader at
init. The credentials and shares are secret outputs (encrypted in the state).

It is created once: ``diff`` never asks for a change (a new PGP key list is a rekey, not a second init), delete
leaves the data to the nodes' VPSes.
"""

from __future__ import annotations

import datetime
import tempfile
from pathlib import Path
from typing import Any

import pulumi
import pulumi.dynamic

from vault.cluster import ca_bundle_file, initialise

SECRET_OUTPUTS = ["shares", "system_secret_id_wrapped", "operator_secret_id", "backup_secret_id"]


class _InitProvider(pulumi.dynamic.ResourceProvider):
    serialize_as_secret_always = False

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        addresses = [str(a) for a in props["addresses"]]
        with tempfile.TemporaryDirectory(prefix="pm-vault-init-") as directory:
            ca_file = ca_bundle_file(str(props["ca_cert"]), Path(directory))
            result = initialise(addresses, ca_file, pgp_keys=[str(k) for k in props["pgp_keys"]],
                                fingerprints=[str(f) for f in props["fingerprints"]],
                                threshold=int(props["threshold"]), shares_file=Path(str(props["shares_file"])),
                                unseal_wait=float(props["unseal_wait"]), auto_unseal=props.get("seal") == "static")
        outs = {
            **props,
            "shares": [{"fingerprint": s.fingerprint, "share": s.share} for s in result.shares],
            "leader": result.leader, "voters": result.voters, "audit_devices": result.audit_devices,
            "system_role_id": result.system_role_id,
            "system_secret_id_wrapped": result.system_secret_id_wrapped.reveal(),
            "operator_role_id": result.operator_role_id, "operator_secret_id": result.operator_secret_id.reveal(),
            "backup_role_id": result.backup_role_id, "backup_secret_id": result.backup_secret_id.reveal(),
            "initialized_at": datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat(),
        }
        return pulumi.dynamic.CreateResult(id_=f"init@{addresses[0]}", outs=outs)

    def diff(self, _id: str, _olds: dict[str, Any], _news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        return pulumi.dynamic.DiffResult(changes=False, replaces=[])

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return None  # the data lives on the nodes; their VPSes are terminated by their own resources


class ClusterInit(pulumi.dynamic.Resource, module="vault", name="ClusterInit"):
    """The cluster's initialisation, done once (see the module docstring)."""

    shares: pulumi.Output[list[dict[str, str]]]
    leader: pulumi.Output[str]
    voters: pulumi.Output[list[str]]
    audit_devices: pulumi.Output[list[str]]
    system_role_id: pulumi.Output[str]
    system_secret_id_wrapped: pulumi.Output[str]
    operator_role_id: pulumi.Output[str]
    operator_secret_id: pulumi.Output[str]
    backup_role_id: pulumi.Output[str]
    backup_secret_id: pulumi.Output[str]

    def __init__(self, name: str, *, addresses: pulumi.Input[list[str]], ca_cert: pulumi.Input[str],
                 pgp_keys: list[str], fingerprints: list[str], threshold: int, shares_file: str, unseal_wait: float,
                 seal: str = "shamir", opts: pulumi.ResourceOptions | None = None) -> None:
        props: dict[str, Any] = {
            "addresses": addresses, "ca_cert": ca_cert, "pgp_keys": pgp_keys, "fingerprints": fingerprints,
            "threshold": threshold, "shares_file": shares_file, "unseal_wait": unseal_wait, "seal": seal,
            **{key: None for key in ("shares", "leader", "voters", "audit_devices", "system_role_id",
                                     "system_secret_id_wrapped", "operator_role_id", "operator_secret_id",
                                     "backup_role_id", "backup_secret_id", "initialized_at")}}
        super().__init__(_InitProvider(), name, props, pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(additional_secret_outputs=SECRET_OUTPUTS)))
