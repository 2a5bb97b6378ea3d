"""Two dynamic resources of the Vault cluster stack: its secrets, and one OpenBao node on a VPS.

``ClusterSecrets``: the cluster's CA (``vault.tls``) and the admin SSH key of its VPSes, generated in memory at
create. The CA key and the SSH private key are outputs marked secret (``additional_secret_outputs``): the state
keeps them encrypted by the stack's secrets provider, never in clear on the operator's disk. ``ca_generation``
changes replace them (a new CA: every node gets a new certificate through its ``ca_cert`` input).

``OpenBaoNode``: installs and runs OpenBao on one host over SSH (``vault.cluster_host.install_node``: the pinned
binary, the server config from ``vault.server.render_config``, TLS files, the service unit), with a certificate
for the node made at create and again whenever ``ca_cert`` or ``cert_generation`` changes (renewal before expiry is
a ``cert_generation`` bump: an update through the engine). The node's private key goes to the node only; outputs
hold public facts (certificate, its expiry and serial, the binary's digest, ``running_digest``: what the process
should run). An update writes the new binary and files but does not restart a running node: the ``ClusterRollout``
resource restarts the nodes one at a time. Delete wipes the node (service stopped, keys shredded, raft data and
audit log removed) before its VPS is terminated, with the admin key kept as a secret output for it. ``peers``
only matter for the first join (``retry_join``) and are ignored afterwards, so replacing another node never
restarts this one. ``host`` and ``node_id`` replace. The CA key is read from the (secret) input at run time and never
copied to outputs.
"""

from __future__ import annotations

import base64
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import pulumi
import pulumi.dynamic
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from components.unknowns import changed_keys, diff_result, is_unknown
from toolkit.errors import ToolkitError
from toolkit.redact import Secret
from toolkit.ssh import KnownHosts, SshExecutor
from toolkit.wait import wait_for
from vault import tls
from vault.cluster_host import NodeFiles, NodeInstallError, OpenBaoSource, api_address, install_node, wipe_node
from vault.nodes import probe_node

SECRET_OUTPUTS = ["ca_key", "ssh_private_key", "seal_key"]
NODE_SECRET_INPUTS = ("ca_key", "ssh_private_key", "seal_key")
READY_WAIT = 60.0
WIPE_WAIT = 20.0


class _SecretsProvider(pulumi.dynamic.ResourceProvider):
    serialize_as_secret_always = False  # the provider captures nothing; the outputs are marked secret

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        ca = tls.new_ca(str(props["cluster_name"]))
        key = Ed25519PrivateKey.generate()
        private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                    serialization.NoEncryption()).decode()
        public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                               serialization.PublicFormat.OpenSSH).decode()
        static = props.get("seal") == "static"
        outs = {**props, "ca_cert": ca.cert_pem, "ca_key": ca.key_pem.reveal(), "ca_not_after": tls.not_after(
            ca.cert_pem), "ssh_private_key": private, "ssh_public_key": f"{public} pm-vault-{props['cluster_name']}",
            "seal_key": base64.b64encode(os.urandom(32)).decode() if static else "",
            "seal_key_id": f"{props['cluster_name']}-seal-1" if static else ""}
        return pulumi.dynamic.CreateResult(id_=f"{props['cluster_name']}-{tls.serial(ca.cert_pem)[:16]}", outs=outs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        if not is_unknown(news.get("seal")) and (olds.get("seal") or "shamir") != (news.get("seal") or "shamir"):
            raise SealChangeRefused(f"pm:seal is {olds.get('seal') or 'shamir'!r} on this running cluster and cannot "
                                    f"become {news.get('seal')!r}: that is a seal migration, not done by the stack. "
                                    "Make a new cluster stack with the seal you want and `invoke vault.restore` a "
                                    "backup into it")
        return diff_result(changed_keys(olds, news, ("cluster_name", "ca_generation")), [],
                           delete_before_replace=False)

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return None  # nothing outside the state holds them


class SealChangeRefused(ToolkitError):
    """``pm:seal`` changed on a running cluster (a seal migration): refused before anything changes."""


class ClusterSecrets(pulumi.dynamic.Resource, module="vault", name="ClusterSecrets"):
    """The cluster CA, the nodes' admin SSH key and, with auto-unseal, the static seal key (secret outputs)."""

    ca_cert: pulumi.Output[str]
    ca_key: pulumi.Output[str]
    ca_not_after: pulumi.Output[str]
    ssh_private_key: pulumi.Output[str]
    ssh_public_key: pulumi.Output[str]
    seal_key: pulumi.Output[str]
    seal_key_id: pulumi.Output[str]

    def __init__(self, name: str, *, cluster_name: str, ca_generation: int = 1, seal: str = "shamir",
                 opts: pulumi.ResourceOptions | None = None) -> None:
        props: dict[str, Any] = {"cluster_name": cluster_name, "ca_generation": ca_generation, "seal": seal,
                                 "ca_cert": None, "ca_key": None, "ca_not_after": None, "ssh_private_key": None,
                                 "ssh_public_key": None, "seal_key": None, "seal_key_id": None}
        super().__init__(_SecretsProvider(), name, props, pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(additional_secret_outputs=SECRET_OUTPUTS)))


def _public(props: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in props.items() if k not in NODE_SECRET_INPUTS}


def _ready(address: str, ca_pem: str) -> None:
    """The node's API answers over TLS verified with the cluster CA (sealed is fine: it is not initialised yet)."""
    with tempfile.TemporaryDirectory(prefix="pm-vault-ca-") as directory:
        ca_file = Path(directory) / "ca.pem"
        ca_file.write_text(ca_pem)
        wait_for(lambda: probe_node(address, timeout=2.0, verify=str(ca_file)).reachable,
                 what=f"OpenBao at {address} to answer over TLS", timeout=READY_WAIT, interval=0.2,
                 fail=lambda _t: NodeInstallError(f"{address} did not answer over TLS within {READY_WAIT:.0f} s "
                                                  "after its service started; read `journalctl -u openbao` there"))


def _apply(props: dict[str, Any], olds: dict[str, Any] | None) -> dict[str, Any]:
    host = str(props["host"])
    renew = olds is None or bool(changed_keys(olds, props, ("ca_cert", "cert_generation", "cluster_dns")))
    if renew:
        issued = tls.node_certificate(tls.CertKey(str(props["ca_cert"]), Secret(str(props["ca_key"]))),
                                      node_id=str(props["node_id"]), address=host,
                                      cluster_name=str(props["cluster_dns"]))
        cert_pem, key_pem = issued.cert_pem, issued.key_pem
    else:
        assert olds is not None
        cert_pem, key_pem = str(olds["cert_pem"]), None
    source = OpenBaoSource(**dict(props["openbao"]))
    seal_key = Secret(str(props["seal_key"])) if props.get("seal_key") else None
    files = NodeFiles(node_id=str(props["node_id"]), address=host, peers=tuple(str(p) for p in props["peers"]),
                      ca_pem=str(props["ca_cert"]), cert_pem=cert_pem, key_pem=key_pem, seal_key=seal_key,
                      seal_key_id=str(props.get("seal_key_id") or ""))
    executor = SshExecutor(host, Secret(str(props["ssh_private_key"])), port=int(props.get("ssh_port") or 22),
                           known_hosts=KnownHosts(lines=[], trust_on_first_use=True))
    with executor:
        result = install_node(executor, files, source, restart=olds is None)
    _ready(api_address(host), str(props["ca_cert"]))
    if result.restarted:
        pulumi.log.warn(f"{host}: OpenBao restarted to apply {', '.join(result.changed)}: the node is sealed "
                        "until the operators run `invoke vault.unseal`")
    return {**_public(props), "api_addr": api_address(host), "cert_pem": cert_pem,
            "cert_not_after": tls.not_after(cert_pem), "cert_serial": tls.serial(cert_pem),
            "binary_sha256": result.binary_sha256, "running_digest": result.running_digest,
            "ssh_private_key": props["ssh_private_key"]}


def _executor(props: dict[str, Any], key: str) -> SshExecutor:
    return SshExecutor(str(props["host"]), Secret(key), port=int(props.get("ssh_port") or 22),
                       known_hosts=KnownHosts(lines=[], trust_on_first_use=True), boot_timeout=WIPE_WAIT)


def _compared(props: dict[str, Any], key: str) -> Any:
    """An input as ``diff`` compares it: where this machine keeps a local binary is not a change of the node."""
    value = props.get(key)
    if key == "openbao" and isinstance(value, dict):
        return {k: v for k, v in value.items() if k != "local_path"}
    return value


class _NodeProvider(pulumi.dynamic.ResourceProvider):
    serialize_as_secret_always = False

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        return pulumi.dynamic.CreateResult(id_=f"{props['node_id']}@{props['host']}", outs=_apply(props, None))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        return diff_result(changed_keys(olds, news, ("host", "node_id")),
                           changed_keys(olds, news, ("openbao", "ca_cert", "cert_generation", "cluster_dns",
                                                     "seal_key_id"), value=_compared), delete_before_replace=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        return pulumi.dynamic.UpdateResult(outs=_apply(news, olds))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        """Wipe the node before its VPS is terminated (best effort: an unreachable host is terminated anyway)."""
        key = props.get("ssh_private_key")
        if not key:
            print(f"{props.get('host')}: no admin key in this node's state (made by an older version): not wiped",
                  file=sys.stderr)
            return
        try:
            with _executor(props, str(key)) as executor:
                wipe_node(executor)
            print(f"pm-vault-cluster: {props.get('host')} wiped (OpenBao stopped, keys shredded, raft data and "
                  "audit log removed) before its VPS is terminated", file=sys.stderr)
        except ToolkitError as exc:
            print(f"{props.get('host')}: not wiped ({exc}); its VPS is terminated anyway", file=sys.stderr)


class OpenBaoNode(pulumi.dynamic.Resource, module="vault", name="OpenBaoNode"):
    """OpenBao installed and running on one host (see the module docstring)."""

    api_addr: pulumi.Output[str]
    cert_pem: pulumi.Output[str]
    cert_not_after: pulumi.Output[str]
    binary_sha256: pulumi.Output[str]
    running_digest: pulumi.Output[str]

    def __init__(self, name: str, *, host: pulumi.Input[str], node_id: str, cluster_dns: str,
                 peers: pulumi.Input[list[str]], ca_cert: pulumi.Input[str], ca_key: pulumi.Input[str],
                 ssh_private_key: pulumi.Input[str], openbao: dict[str, str], cert_generation: int = 1,
                 seal_key: pulumi.Input[str] = "", seal_key_id: pulumi.Input[str] = "",
                 opts: pulumi.ResourceOptions | None = None) -> None:
        props: dict[str, Any] = {
            "host": host, "node_id": node_id, "cluster_dns": cluster_dns, "peers": peers, "ca_cert": ca_cert,
            "ca_key": ca_key, "ssh_private_key": ssh_private_key, "openbao": openbao, "seal_key": seal_key,
            "seal_key_id": seal_key_id,
            "cert_generation": cert_generation, "api_addr": None, "cert_pem": None, "cert_not_after": None,
            "cert_serial": None, "binary_sha256": None, "running_digest": None}
        super().__init__(_NodeProvider(), name, props, pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(additional_secret_outputs=["ssh_private_key"])))
