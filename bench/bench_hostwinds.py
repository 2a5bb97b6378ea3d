"""Hostwinds benchmarks (prints numbers, asserts nothing):

1. create-to-ACTIVE through the client against the simulator with zero simulated delay (real SSH host each),
   median of 5;
2. requests per second the simulator sustains (get_instances, one keep-alive connection and 4 threads,
   bounded loop, loopback only).

Run: ``.venv/bin/python bench/bench_hostwinds.py`` (as root, from the repository root).
"""

from __future__ import annotations

import secrets
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests

from hostwinds import ClientSettings, CreateRequest, HostwindsClient, PollSettings, RetryPolicy
from sandbox.hostwinds_sim.server import SimulatorServer
from sandbox.hostwinds_sim.settings import SimSettings
from toolkit.redact import Secret

RUNS = 5
REQUESTS = 2000


def create_to_active(sim: SimulatorServer, key: str) -> list[float]:
    client = HostwindsClient(ClientSettings(
        api_key=Secret(key), url=sim.url, rate_per_second=1000.0, retry=RetryPolicy(base_delay=0.01),
        poll=PollSettings(interval=0.01, timeout=30)))
    catalog = client.catalog()  # the stack's names -> the ids add_instance takes (issue 17)
    image, location = catalog.image("ubuntu-22.04").id, catalog.location("1").id
    plan = catalog.plan("small", {"small": (1, 2.0)}).rid
    timings = []
    for run in range(RUNS):
        start = time.perf_counter()
        inst = client.create_instance(CreateRequest(f"pm-bench-{run}", image, plan, location))
        timings.append(time.perf_counter() - start)
        client.terminate(inst.serviceid)
    return timings


def sustained_rps(sim: SimulatorServer, key: str, threads: int) -> float:
    per_thread = REQUESTS // threads
    body = {"action": "get_locations", "API": key}

    def worker() -> None:
        with requests.Session() as session:
            for _ in range(per_thread):
                session.post(sim.url, data=body, timeout=10).raise_for_status()

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    start = time.perf_counter()
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    return per_thread * threads / (time.perf_counter() - start)


def main() -> None:
    key = "bench-" + secrets.token_hex(8)
    with tempfile.TemporaryDirectory() as state, SimulatorServer(Path(state), key, settings=SimSettings()) as sim:
        timings = create_to_active(sim, key)
        print(f"create-to-ACTIVE (zero delay, real SSH host): median {statistics.median(timings) * 1000:.1f} ms "
              f"over {RUNS} runs (min {min(timings) * 1000:.1f}, max {max(timings) * 1000:.1f})")
        for threads in (1, 4):
            print(f"simulator throughput, {threads} client thread(s): "
                  f"{sustained_rps(sim, key, threads):.0f} requests/s ({REQUESTS} requests)")


if __name__ == "__main__":
    main()
