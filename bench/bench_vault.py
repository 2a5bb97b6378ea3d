"""Vault benchmarks on real OpenBao (dev server and a 3-node raft cluster). Prints numbers; asserts nothing.

    .venv/bin/python bench/bench_vault.py [--ops 500] [--stored-keys 10000] [--skip-raft]

- KV v2 write (cas) / read latency p50/p99 and throughput through the HA client (dev and 3-node raft)
- RSA-4096 / RSA-2048 / Ed25519 generation time
- API-key verify time with 1 key vs N keys stored (verified key at bcrypt cost 12; the N others stored at
  cost 4 to keep set-up short: verification cost does not depend on them, which is the point)
- leader-loss stall: the longest single operation while the raft leader is SIGKILLed mid-run
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox.openbao import DevServer, RaftCluster
from toolkit import daemon
from toolkit.net import free_port, free_port_block
from toolkit.redact import Secret
from vault import apikeys, keys, kv, paths
from vault.bootstrap import bootstrap
from vault.client import VaultClient
from vault.config import VaultConfig


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def timed(fn: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def report(label: str, samples: list[float]) -> None:
    total = sum(samples)
    print(f"  {label:<34} p50 {pct(samples, .5) * 1e3:8.2f} ms  p99 {pct(samples, .99) * 1e3:8.2f} ms  "
          f"{len(samples) / total:8.0f} ops/s")


def kv_bench(client: VaultClient, label: str, ops: int) -> None:
    prefix = f"bench{os.getpid()}{label}"
    counter = iter(range(10**9))
    writes = timed(lambda: kv.write(client, paths.SecretPath("vps", f"{prefix}/k{next(counter)}"), {"v": "x" * 64},
                                    cas=0), ops)
    reads: list[float] = []
    for i in range(ops):
        path = paths.SecretPath("vps", f"{prefix}/k{i}")
        start = time.perf_counter()
        kv.read(client, path)
        reads.append(time.perf_counter() - start)
    print(f"{label}:")
    report("KV write (cas=0)", writes)
    report("KV read", reads)


def keygen_bench() -> None:
    print("key generation (in memory):")
    for name, fn, n in (("RSA-4096 SSH", lambda: keys.generate_ssh_keypair("rsa", bits=4096), 10),
                        ("RSA-2048 DKIM", keys.generate_dkim_key, 20),
                        ("Ed25519 SSH", lambda: keys.generate_ssh_keypair("ed25519"), 200)):
        samples = timed(fn, n)
        print(f"  {name:<34} mean {statistics.mean(samples) * 1e3:8.1f} ms  p50 {pct(samples, .5) * 1e3:8.1f} ms"
              f"  max {max(samples) * 1e3:8.1f} ms  (n={n})")


def apikey_bench(client: VaultClient, stored: int) -> None:
    apikeys.allow_low_bcrypt_cost()
    print(f"API key verify (bcrypt cost {apikeys.BCRYPT_COST}):")
    lone_tenant = f"benchone{os.getpid()}"
    _, lone = apikeys.create_api_key(client, lone_tenant, name="one", scopes=["send_email"])
    report("verify, 1 key stored", timed(lambda: apikeys.verify_api_key(client, lone.reveal()), 20))
    many_tenant = f"benchmany{os.getpid()}"
    start = time.perf_counter()
    for i in range(stored - 1):
        apikeys.create_api_key(client, many_tenant, name=f"k{i}", scopes=["send_email"], cost=4)
    _, target = apikeys.create_api_key(client, many_tenant, name="target", scopes=["send_email"])
    print(f"  (stored {stored} keys in {time.perf_counter() - start:.1f} s)")
    report(f"verify, {stored} keys stored", timed(lambda: apikeys.verify_api_key(client, target.reveal()), 20))
    report(f"verify, {stored} stored, tenant known",
           timed(lambda: apikeys.verify_api_key(client, target.reveal(), tenant_id=many_tenant), 20))


def raft_bench(state: Path, ops: int) -> None:
    cluster = RaftCluster(state / "raft3", nodes=3, base_port=free_port_block(6))
    try:
        start = time.perf_counter()
        cluster.start(timeout=120)
        print(f"3-node raft cluster formed (all voters) in {time.perf_counter() - start:.1f} s")
        client = VaultClient(VaultConfig(tuple(cluster.addresses), token=Secret(cluster.root_token)))
        bootstrap(client)
        kv_bench(client, "3-node raft (via active node)", ops)
        leader = cluster.leader_index()
        assert leader is not None
        go = threading.Event()

        def crash() -> None:
            go.wait()
            pid = daemon.read_pid(cluster.spec(leader))
            if pid:
                os.killpg(pid, signal.SIGKILL)

        killer = threading.Thread(target=crash)
        killer.start()
        durations, failures = [], 0
        for i in range(600):
            if i == 200:
                go.set()
            path = paths.SecretPath("vps", f"stall{os.getpid()}/k{i}")
            begin = time.perf_counter()
            try:
                kv.write(client, path, {"i": i}, cas=0)
                kv.read(client, path)
            except Exception:  # counted, reported
                failures += 1
            durations.append(time.perf_counter() - begin)
        killer.join()
        print("leader loss (SIGKILL of the active node mid-run, 600 write+read pairs):")
        print(f"  stall (longest op) {max(durations):.2f} s; failed ops {failures}; failovers {client.failovers};"
              f" p50 op {pct(durations, .5) * 1e3:.1f} ms")
        client.close()
    finally:
        cluster.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=500)
    parser.add_argument("--stored-keys", type=int, default=10000)
    parser.add_argument("--skip-raft", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pm-bench-vault-") as tmp:
        state = Path(tmp)
        server = DevServer(state / "dev", port=free_port())
        server.start()
        try:
            client = VaultClient(VaultConfig((server.address,), token=Secret(server.root_token)))
            bootstrap(client)
            kv_bench(client, "dev server", args.ops)
            keygen_bench()
            apikey_bench(client, args.stored_keys)
            client.close()
        finally:
            server.stop()
        if not args.skip_raft:
            raft_bench(state, args.ops)


if __name__ == "__main__":
    main()
