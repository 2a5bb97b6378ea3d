"""Benchmark of `rotate.due --dry-run` over N tenants (default 1,000) whose rotation records live in a dev OpenBao.

    .venv/bin/python bench/bench_rotate_due.py [--tenants 1000] [--parallelism 1,8,16]

Seeds the synthetic fleet (``bench/synthetic_fleet.py``): N stack files, each tenant's day-2 intent and 4 Vault
records per tenant (admin/tenant SSH, SMTP admin, DKIM) with spread-out dates (some due, some in a grace window, some
retired DKIM selectors), then times:
- the planning logic (``plan_due``: one KV read per tenant, the intent with the ages it records, + due computation)
  at several parallelisms;
- the invoke task end to end (``rotate.due --dry-run``: stack files, Vault, table output to /dev/null).
Prints numbers; asserts nothing. Key material is a placeholder: planning never reads private fields.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from invoke.context import Context
from rich.console import Console

from bench.synthetic_fleet import NOW, seed_vault, write_stack_files
from fleet.clock import FrozenClock, iso
from fleet.rotation_runner import load_tenants, plan_due
from sandbox.openbao import DevServer
from tasks_lib import rotate_due
from toolkit.net import free_port
from toolkit.redact import Secret
from vault.bootstrap import bootstrap
from vault.client import VaultClient
from vault.config import VaultConfig


def seed(client: VaultClient, stacks: Path, count: int, workers: int = 16, *, fresh: bool = False) -> None:
    """The synthetic fleet's stack files and Vault records (``bench/synthetic_fleet.py``)."""
    write_stack_files(stacks, count)
    seed_vault(client, count, workers=workers, fresh=fresh)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--parallelism", default="1,8,16")
    parser.add_argument("--nothing-due", action="store_true", help="every key just rotated, no open window")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-rotate-") as tmp:
        state = Path(tmp)
        server = DevServer(state / "dev", port=free_port())
        server.start()
        try:
            client = VaultClient(VaultConfig((server.address,), token=Secret(server.root_token)))
            bootstrap(client)
            stacks = state / "stacks"
            start = time.perf_counter()
            seed(client, stacks, args.tenants, fresh=args.nothing_due)
            print(f"seeded {args.tenants} tenants ({args.tenants * 5} Vault records, {args.tenants} stack files) "
                  f"in {time.perf_counter() - start:.1f} s")
            configs, problems = load_tenants(stacks)
            assert not problems, problems[:3]
            for parallelism in (int(p) for p in args.parallelism.split(",")):
                start = time.perf_counter()
                plan = plan_due(client, configs, FrozenClock(NOW), parallelism=parallelism)
                took = time.perf_counter() - start
                print(f"  plan_due  parallelism {parallelism:>3}: {took:6.2f} s  ({args.tenants / took:7.0f} tenants/s)"
                      f"  due {len(plan.due)}, upcoming {len(plan.upcoming)}, open windows {len(plan.waiting)}")
            os.environ.update({"VAULT_ADDR": server.address, "VAULT_TOKEN": server.root_token})
            rotate_due.console = Console(file=io.StringIO(), width=160)
            for parallelism in (8, 16):
                start = time.perf_counter()
                rotate_due.due(Context(), dry_run=True, parallelism=parallelism, work_dir=str(state),
                                 audit_log=str(state / "audit.jsonl"), now=iso(NOW))
                print(f"  invoke rotate.due --dry-run --parallelism {parallelism}: "
                      f"{time.perf_counter() - start:6.2f} s end to end ({args.tenants} tenants)")
            client.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main()
