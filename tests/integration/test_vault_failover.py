"""HA client against a real 3-node raft OpenBao cluster: leader loss, dead nodes, read-your-writes."""

from __future__ import annotations

import os
import signal
import threading
import uuid

import pytest

from sandbox.openbao import RaftCluster
from tests.fixtures.openbao import root_client
from toolkit import daemon
from vault import kv, paths
from vault.client import VaultClient
from vault.errors import SecretNotFound, VaultPermissionDenied, VaultUnavailable
from vault.nodes import NodeHealth, find_active, probe_all


def _prefix() -> str:
    return "f" + uuid.uuid4().hex[:8]


def test_dead_node_in_the_address_list_does_not_fail(openbao_raft3: RaftCluster, raft3_root: VaultClient) -> None:
    dead = "http://127.0.0.1:9"  # discard port: nothing listens
    with root_client([dead, *openbao_raft3.addresses], openbao_raft3.root_token) as client:
        assert client.nodes[0] != dead
        path = paths.SecretPath("vps", f"{_prefix()}/x")
        assert kv.write(client, path, {"v": 1}, cas=0) == 1
        assert kv.read(client, path).data == {"v": 1}


def test_read_your_writes_through_a_standby(openbao_raft3: RaftCluster, raft3_root: VaultClient) -> None:
    leader = openbao_raft3.leader_index()
    standby = next(i for i in range(3) if i != leader)
    # A client that only knows one standby: writes are forwarded, reads would be answered locally.
    with root_client([openbao_raft3.address(standby)], openbao_raft3.root_token) as client:
        prefix = _prefix()
        for i in range(50):
            path = paths.SecretPath("vps", f"{prefix}/k{i}")
            kv.write(client, path, {"i": i}, cas=0)
            assert kv.read(client, path).data == {"i": i}


def test_one_health_probe_finds_the_active_node_and_one_node_requests_stay_on_their_node(
    openbao_raft3: RaftCluster, raft3_root: VaultClient
) -> None:
    leader = openbao_raft3.leader_index()
    assert leader is not None
    standby = openbao_raft3.address(next(i for i in range(3) if i != leader))
    dead = "http://127.0.0.1:9"
    nodes = probe_all([dead, *openbao_raft3.addresses])
    assert nodes[0] == NodeHealth(dead, reachable=False, initialized=False)
    assert [n.active for n in nodes[1:]] == [i == leader for i in range(3)]
    assert all(n.initialized and not n.sealed for n in nodes[1:]) and sum(n.standby for n in nodes) == 2
    with root_client([dead, *openbao_raft3.addresses], openbao_raft3.root_token) as client:
        assert client.active_node() == openbao_raft3.address(leader)
        assert (client.json("GET", "sys/leader", address=standby) or {})["is_self"] is False
        assert client.json("GET", "vps/data/nobody/here", address=standby, ok_404=True) is None
        with pytest.raises(SecretNotFound, match="GET vps/data/nobody/here: HTTP 404"):
            client.json("GET", "vps/data/nobody/here")
        with client.with_token("not-a-token") as stranger, pytest.raises(VaultPermissionDenied, match="sys/audit"):
            stranger.json("GET", "sys/audit")
    with pytest.raises(VaultUnavailable, match=r"no active Vault node among http://127\.0\.0\.1:9$"):
        find_active([dead])


def test_leader_killed_mid_run_no_failed_ops_no_lost_writes(
    openbao_raft3: RaftCluster, raft3_root: VaultClient
) -> None:
    leader = openbao_raft3.leader_index()
    assert leader is not None
    client = root_client(openbao_raft3.addresses, openbao_raft3.root_token)
    prefix = _prefix()
    go = threading.Event()

    def crash_leader() -> None:
        go.wait()
        pid = daemon.read_pid(openbao_raft3.spec(leader))
        assert pid is not None
        os.killpg(pid, signal.SIGKILL)  # a crash, not a graceful step-down

    killer = threading.Thread(target=crash_leader)
    killer.start()
    failures: list[str] = []
    try:
        for i in range(1000):
            if i == 300:
                go.set()
            path = paths.SecretPath("vps", f"{prefix}/k{i}")
            try:
                assert kv.write(client, path, {"i": i}, cas=0) == 1
                assert kv.read(client, path).data == {"i": i}
            except Exception as exc:  # count, don't stop: the assertion below reports them all
                failures.append(f"{i}: {type(exc).__name__}: {exc}")
    finally:
        go.set()
        killer.join()
    assert failures == []
    assert client.failovers > 0
    new_leader = openbao_raft3.leader_index()
    assert new_leader is not None and new_leader != leader
    lost = [i for i in range(1000)
            if kv.read(client, paths.SecretPath("vps", f"{prefix}/k{i}")).data != {"i": i}]
    assert lost == []
    assert all(kv.current_version(client, paths.SecretPath("vps", f"{prefix}/k{i}")) == 1 for i in range(0, 1000, 7))
    client.close()
    # Bring the crashed node back for the rest of the module (and to prove it rejoins).
    openbao_raft3.stop_node(leader)
    openbao_raft3.start(timeout=120)


@pytest.mark.parametrize("token_type,same_token", [("service", True), ("batch", False)])
def test_token_renewal_and_relogin(
    vault_root: VaultClient, vault_bootstrap: object, token_type: str, same_token: bool
) -> None:
    """At 2/3 of the TTL a renewable token is renewed in place; a non-renewable one means a re-login."""
    from toolkit.redact import Secret
    from vault.auth import approle_client

    role = f"short-{token_type}"
    vault_root.write(f"auth/approle/role/{role}", {"token_policies": ["system"], "token_ttl": 60,
                                                   "token_max_ttl": 3600, "token_type": token_type})
    role_id = vault_root.read(f"auth/approle/role/{role}/role-id")["data"]["role_id"]  # type: ignore[index]
    secret_id = vault_root.write(f"auth/approle/role/{role}/secret-id")["data"]["secret_id"]  # type: ignore[index]
    with approle_client(vault_root, role_id, Secret(secret_id)) as client:
        before = client.token
        client._renew_at = 0.0  # pretend 2/3 of the TTL has passed
        assert client.list("vps/metadata") is not None
        assert (client.token == before) is same_token
        assert client._renew_at is not None and client._renew_at > 0
