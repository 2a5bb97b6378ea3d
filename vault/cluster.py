"""Initialising a new raft cluster once, and the operations on its nodes that need no stack (health, unseal).

``initialise`` is what the cluster stack's ``ClusterInit`` resource runs (``components.vault_cluster_init``):

1. every node answers over verified TLS and none is initialised yet, else ``ClusterRefused`` and nothing changes
   (an unreachable node, or a second ``init`` on an initialised cluster, is refused before any call that writes);
2. ``sys/init`` with Shamir ``shares``/``threshold`` and ``pgp_keys``: OpenBao encrypts each share to one
   operator's public key, so no clear share ever leaves the server; the encrypted shares go to the hand-off file
   (and to the stack's outputs), where ``invoke vault.unseal`` finds each operator's own;
3. the root token stays in this process's memory while the operators unseal every node (``unseal_wait`` seconds);
4. with it: ``vault.bootstrap.bootstrap`` (mounts, transit, policies, AppRole, admin MFA), autopilot settings,
   the cluster operator's AppRole (``vault-cluster`` policy: raft, autopilot, step-down, health, audit list; its
   secret id becomes a Pulumi secret so day-2 changes of the cluster run through the engine), the backup AppRole
   (``vault-backup``: raft snapshot, secret reads, restore canaries; for ``invoke vault.backup``), a wrapped secret id
   of the system AppRole for the operators, every node a raft voter, the audit device checked; then the root
   token is revoked.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from toolkit.errors import ToolkitError
from toolkit.private_files import write_private
from toolkit.redact import REDACTOR, Secret
from toolkit.wait import wait_for
from vault.backup.inventory import CANARY_NAME, CANARY_TENANT, DEFAULT_MOUNTS
from vault.bootstrap import bootstrap, issue_system_secret_id
from vault.client import VaultClient
from vault.config import VaultConfig
from vault.nodes import NodeHealth, probe_node

OPERATOR_ROLE = "vault-cluster"
OPERATOR_POLICY = """\
# The cluster stack's own credential: raft membership, autopilot, step-down and health; no secret data.
path "sys/storage/raft/*" { capabilities = ["create", "read", "update", "delete", "list"] }
path "sys/step-down" { capabilities = ["update", "sudo"] }
path "sys/audit" { capabilities = ["read", "sudo"] }
path "sys/seal-status" { capabilities = ["read"] }
path "sys/leader" { capabilities = ["read"] }
path "sys/ha-status" { capabilities = ["read"] }
path "auth/token/lookup-self" { capabilities = ["read"] }
"""
BACKUP_ROLE = "vault-backup"


BACKUP_LOCKS = ("vault-backup", "dr-drill")
"""The scheduled jobs' lock records (``vault.locks``) the backup credential takes."""


def backup_policy(mounts: tuple[str, ...] = DEFAULT_MOUNTS) -> str:
    """What ``invoke vault.backup`` (and the scheduled backup and drill) need and no more: a raft snapshot, every
    secret read (for the manifest's digests), its own restore canaries and lock records written; no delete, no
    metadata writes, no policies or auth."""
    lines = ["# The backup credential: raft snapshots, reads of the secret mounts, the restore canaries, its locks.",
             'path "sys/storage/raft/configuration" { capabilities = ["read"] }',
             'path "sys/storage/raft/snapshot" { capabilities = ["read"] }']
    lines += [f'path "vps/data/_fleet/locks/{name}" {{ capabilities = ["create", "read", "update"] }}'
              for name in BACKUP_LOCKS]
    for mount in mounts:
        lines += [f'path "{mount}/data/*" {{ capabilities = ["read"] }}',
                  f'path "{mount}/data/{CANARY_TENANT}/{CANARY_NAME}" '
                  '{ capabilities = ["create", "read", "update"] }',
                  f'path "{mount}/metadata/*" {{ capabilities = ["read", "list", "scan"] }}',
                  f'path "{mount}/metadata" {{ capabilities = ["list", "scan"] }}']
    return "\n".join(lines) + "\n"


AUTOPILOT = {"cleanup_dead_servers": True, "dead_server_last_contact_threshold": "10m", "min_quorum": 3,
             "server_stabilization_time": "10s", "last_contact_threshold": "10s"}
POLL = 0.25


class ClusterRefused(ToolkitError):
    """The cluster cannot be initialised as asked (unreachable node, already initialised, ...): nothing was changed."""


class ClusterInitIncomplete(ToolkitError):
    """Initialised, but not every node was unsealed in time: the root token is discarded; what to do is named."""


@dataclass(frozen=True)
class EncryptedShare:
    fingerprint: str
    share: str
    """OpenBao's ``keys_base64`` entry: the share encrypted to ``fingerprint``'s key (harmless without it)."""


@dataclass
class InitResult:
    shares: list[EncryptedShare]
    leader: str
    voters: list[str]
    audit_devices: list[str]
    system_role_id: str
    system_secret_id_wrapped: Secret
    operator_role_id: str
    operator_secret_id: Secret
    backup_role_id: str
    backup_secret_id: Secret
    bootstrap_changes: list[str] = field(default_factory=list)


def probe(addresses: list[str], ca_file: str) -> list[NodeHealth]:
    return [probe_node(address, timeout=2.0, verify=ca_file) for address in addresses]


def refuse_unless_fresh(addresses: list[str], ca_file: str) -> None:
    """ClusterRefused unless every node answers (TLS verified) and none is initialised yet."""
    states = probe(addresses, ca_file)
    unreachable = [s.address for s in states if not s.reachable]
    if unreachable:
        raise ClusterRefused(f"{', '.join(unreachable)} did not answer over TLS (verified with the cluster CA); "
                             "nothing was initialised: make every node answer, then run `pulumi up` again")
    done = [s.address for s in states if s.initialized]
    if done:
        raise ClusterRefused(f"{', '.join(done)} is already initialised: a second init is refused (its shares "
                             "and data stay as they are). Adopt the running cluster instead of initialising it")


def write_shares_file(path: Path, shares: list[EncryptedShare], addresses: list[str], ca_pem: str, *,
                      kind: str = "secret") -> None:
    """The hand-off for ``invoke vault.unseal``: the nodes, the cluster CA (public) and the encrypted shares, each
    named by its key's fingerprint (no clear share, no token). ``kind``: ``secret`` (unseal shares) or ``recovery``
    (auto-unseal: the shares authorise recovery operations such as ``generate-root``, they do not unseal)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"addresses": addresses, "ca_cert": ca_pem, "kind": kind,
                "shares": [{"fingerprint": s.fingerprint, "share": s.share} for s in shares]}
    write_private(path, json.dumps(document, indent=1) + "\n")


def update_shares_file(path: Path, addresses: list[str], ca_pem: str) -> None:
    """The hand-off names the nodes the operators unseal now and the CA they verify (after a replacement, or once a
    stack adopts the hand-off of a cluster restored into it); the shares are unchanged."""
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError):
        return  # no hand-off on this machine (the operators pass --addresses)
    if document.get("addresses") != addresses or document.get("ca_cert") != ca_pem:
        document.update(addresses=addresses, ca_cert=ca_pem)
        write_private(path, json.dumps(document, indent=1) + "\n")


def _say(message: str) -> None:
    print(f"pm-vault-cluster: {message}", file=sys.stderr, flush=True)


def _unsealed(addresses: list[str], ca_file: str) -> bool:
    return all(s.reachable and s.initialized and not s.sealed for s in probe(addresses, ca_file))


def initialise(addresses: list[str], ca_file: str, *, pgp_keys: list[str], fingerprints: list[str],
               threshold: int, shares_file: Path, unseal_wait: float, auto_unseal: bool = False,
               on_initialised: Callable[[list[EncryptedShare]], None] | None = None) -> InitResult:
    """Init once with PGP-encrypted shares, wait for the operators to unseal, bootstrap, revoke the root token.
    With ``auto_unseal`` (the nodes' static seal) the shares are recovery shares and the nodes unseal themselves."""
    refuse_unless_fresh(addresses, ca_file)
    kind = "recovery" if auto_unseal else "secret"
    request = {f"{kind}_shares": len(pgp_keys), f"{kind}_threshold": threshold,
               "recovery_pgp_keys" if auto_unseal else "pgp_keys": pgp_keys}
    reply = requests.put(f"{addresses[0]}/v1/sys/init", verify=ca_file, timeout=60, json=request)
    if reply.status_code != 200:
        raise ClusterRefused(f"{addresses[0]} refused sys/init: HTTP {reply.status_code} {reply.text[:300]}")
    body = reply.json()
    root = Secret(str(body.pop("root_token")))
    REDACTOR.register(root)
    encrypted = body["recovery_keys_base64" if auto_unseal else "keys_base64"]
    shares = [EncryptedShare(fp, str(enc)) for fp, enc in zip(fingerprints, encrypted, strict=True)]
    write_shares_file(shares_file, shares, addresses, Path(ca_file).read_text(), kind=kind)
    if on_initialised is not None:
        on_initialised(shares)
    if auto_unseal:
        _say(f"initialised with auto-unseal (static seal); {len(shares)} recovery shares (threshold {threshold}), "
             f"each encrypted to one operator's key, in {shares_file}; waiting for the nodes to unseal themselves")
    else:
        _say(f"initialised with {len(shares)} shares (threshold {threshold}), each encrypted to one operator's key; "
             f"waiting up to {unseal_wait:.0f} s for {threshold} operators to run `invoke vault.unseal "
             f"--shares-file {shares_file}` (VAULT_ADDRS={','.join(addresses)} VAULT_CACERT=<the cluster CA>)")
    wait_for(lambda: _unsealed(addresses, ca_file), what="every node to be unsealed by the operators",
             timeout=unseal_wait, interval=POLL, fail=lambda _t: ClusterInitIncomplete(
                 f"the cluster was initialised (encrypted shares in {shares_file}) but not every node was unsealed "
                 f"within {unseal_wait:.0f} s; the root token was discarded. Unseal with `invoke vault.unseal`, make "
                 "a root token with `bao operator generate-root`, run `invoke vault.bootstrap`, then `pulumi "
                 "refresh` adopts nothing: import the init with `pulumi import` or re-create the nodes"))
    return _finish(addresses, ca_file, root, shares)


def _finish(addresses: list[str], ca_file: str, root: Secret, shares: list[EncryptedShare]) -> InitResult:
    with VaultClient(VaultConfig(tuple(addresses), token=root, verify=ca_file), manage_token=False) as client:
        done = bootstrap(client)
        leader = client.active_node(wait=30.0)
        raft = "sys/storage/raft"
        client.write(f"{raft}/autopilot/configuration", {**AUTOPILOT, "server_stabilization_time": "1s"})
        operator_role, operator_secret = make_approle(client, OPERATOR_ROLE, OPERATOR_POLICY)
        backup_role, backup_secret = make_approle(client, BACKUP_ROLE, backup_policy(), token_ttl=3600)
        wrapped = issue_system_secret_id(client, wrap_ttl="24h")
        voters = wait_voters(client, len(addresses))
        client.write(f"{raft}/autopilot/configuration", AUTOPILOT)
        audit = client.read("sys/audit") or {}
        devices = sorted(k.rstrip("/") for k, v in (audit.get("data") or audit).items() if isinstance(v, dict))
        if not devices:
            raise ClusterRefused("no audit device is enabled: the server config declares one; read the node logs")
        client.write("auth/token/revoke-self", {})
    return InitResult(shares=shares, leader=leader, voters=voters, audit_devices=devices,
                      system_role_id=done.system_role_id, system_secret_id_wrapped=wrapped,
                      operator_role_id=operator_role, operator_secret_id=operator_secret,
                      backup_role_id=backup_role, backup_secret_id=backup_secret,
                      bootstrap_changes=done.changed)


def make_approle(client: VaultClient, name: str, policy: str, *, token_ttl: int = 900) -> tuple[str, Secret]:
    """Policy ``name`` and an AppRole of the same name bound to it: (role id, a secret id)."""
    client.write(f"sys/policies/acl/{name}", {"policy": policy})
    client.write(f"auth/approle/role/{name}", {
        "token_policies": [name], "token_ttl": token_ttl, "token_max_ttl": token_ttl * 4, "bind_secret_id": True})
    role_id = str(((client.read(f"auth/approle/role/{name}/role-id") or {}).get("data") or {}).get("role_id", ""))
    secret_id = Secret(str(((client.write(f"auth/approle/role/{name}/secret-id", {}) or {}).get("data") or {})
                           .get("secret_id", "")))
    REDACTOR.register(secret_id)
    return role_id, secret_id


def raft_servers(client: VaultClient) -> list[dict[str, Any]]:
    reply = client.read("sys/storage/raft/configuration") or {}
    servers = ((reply.get("data") or {}).get("config") or {}).get("servers") or []
    return [s for s in servers if isinstance(s, dict)]


def wait_voters(client: VaultClient, count: int, timeout: float = 60.0) -> list[str]:
    """The node ids once ``count`` servers are raft voters (autopilot promotes a new node after stabilising)."""
    found: list[str] = []

    def all_vote() -> bool:
        servers = raft_servers(client)
        found[:] = sorted(str(s.get("node_id")) for s in servers if s.get("voter"))
        return len(found) >= count

    wait_for(all_vote, what=f"{count} raft voters", timeout=timeout, interval=POLL,
             fail=lambda _t: ClusterRefused(f"only {len(found)} of {count} nodes became raft voters ({found})"))
    return found


def unseal_progress(address: str, share: Secret, ca_file: str | bool) -> dict[str, Any]:
    """Submit one share to one node; its seal status after (``sealed``, ``progress``, ``t``, ``nonce``)."""
    reply = requests.put(f"{address}/v1/sys/unseal", json={"key": share.reveal()}, verify=ca_file, timeout=10)
    if reply.status_code != 200:
        raise ClusterRefused(f"{address} refused the share: HTTP {reply.status_code} "
                             f"{'; '.join(map(str, (reply.json() or {}).get('errors') or []))[:200]}")
    status: dict[str, Any] = reply.json()
    return status


def seal_status(address: str, ca_file: str | bool) -> dict[str, Any] | None:
    try:
        reply = requests.get(f"{address}/v1/sys/seal-status", verify=ca_file, timeout=3)
        status: dict[str, Any] = reply.json()
    except (requests.RequestException, ValueError):
        return None
    return status


def unseal_with(addresses: list[str], share: Secret, ca_file: str | bool, *, wait: float,
                report: Callable[[str], None]) -> dict[str, str]:
    """Give one operator's share to every sealed node, once per unseal attempt (nonce), waiting up to ``wait``
    seconds for nodes that cannot take it yet (a joining node is ready once the leader is unsealed). Returns each
    node's outcome ("unsealed", "accepted (2/3)", "unreachable")."""
    given: dict[str, str] = {}
    outcome: dict[str, str] = {}

    def round_done() -> bool:
        for address in addresses:
            status = seal_status(address, ca_file)
            if status is None:
                outcome[address] = "unreachable"
                continue
            if not status.get("sealed", True):
                outcome[address] = "unsealed"
                continue
            if not status.get("initialized"):
                outcome[address] = "waiting (not joined yet)"
                continue
            nonce = str(status.get("nonce") or "")
            if given.get(address) == nonce and int(status.get("progress") or 0) > 0:
                outcome[address] = f"accepted ({status.get('progress')}/{status.get('t')})"
                continue
            after = unseal_progress(address, share, ca_file)
            given[address] = str(after.get("nonce") or "")
            outcome[address] = "unsealed" if not after.get("sealed") else \
                f"accepted ({after.get('progress')}/{after.get('t')})"
            report(f"{address}: {outcome[address]}")
        return all(o == "unsealed" or o.startswith("accepted") for o in outcome.values())

    wait_for(round_done, what="every sealed node to take the share", timeout=wait, interval=POLL,
             fail=lambda _t: ClusterRefused("not every node took the share in time: " + ", ".join(
                 f"{a} {o}" for a, o in outcome.items())))
    return outcome


def ca_bundle_file(ca_pem: str, directory: Path) -> str:
    """The CA certificate (public) in a file, for ``verify=`` and ``VAULT_CACERT``."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "vault-ca.pem"
    path.write_text(ca_pem)
    os.chmod(path, 0o644)
    return str(path)
