"""Benchmark of `rotate.due --dry-run` over N tenants (default 1,000) whose rotation records live in a dev OpenBao.

    .venv/bin/python bench/bench_rotate_due.py [--tenants 1000] [--parallelism 1,8,16]

Seeds N stack files, each tenant's day-2 intent and 4 Vault records per tenant (admin/tenant SSH, SMTP admin, DKIM)
with spread-out ``last_rotated`` dates (some due, some in a grace window, some retired DKIM selectors), then times:
- the planning logic (``plan_due``: one KV read per tenant, the intent with the ages it records, + due computation)
  at several parallelisms;
- the invoke task end to end (``rotate.due --dry-run``: stack files, Vault, table output to /dev/null).
Prints numbers; asserts nothing. Key material is a placeholder: planning never reads private fields.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import random
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from invoke.context import Context
from rich.console import Console

from fleet import intent
from fleet.clock import FrozenClock, iso
from fleet.rotation_runner import load_tenants, plan_due
from sandbox.openbao import DevServer
from tasks_lib import rotate_due
from toolkit import stack_files
from toolkit.net import free_port
from toolkit.redact import Secret
from vault import kv, paths
from vault.bootstrap import bootstrap
from vault.client import VaultClient
from vault.config import VaultConfig

NOW = dt.datetime(2026, 11, 25, tzinfo=dt.UTC)


def seed(client: VaultClient, stacks: Path, count: int, workers: int = 16, *, fresh: bool = False) -> None:
    rng = random.Random(7)
    spread = 0 if fresh else 1

    def one(index: int) -> None:
        tenant = f"t{index:05d}"
        domain = f"{tenant}.bench.example"
        retired: tuple[intent.RetiredDkim, ...] = ()
        if index % 10 == 0 and not fresh:
            retired = (intent.RetiredDkim("pm20251120", "x",
                                          iso(NOW - dt.timedelta(hours=rng.randint(-30, 30)))),)
        stack_files.create(stacks, {
            "tenant_id": tenant, "domain": domain, "dkim_selector": "pm20260101",
            "dns": {"provider": "rfc2136", "server": "127.0.0.1", "tsig_key_name": "bench"},
        }, overwrite=True)
        grace = ()
        if index % 7 == 0 and not fresh:
            grace = (intent.GraceKey("ssh-ed25519 AAAA old", "SHA256:o", 1,
                                     iso(NOW + dt.timedelta(hours=rng.randint(-20, 20)))),)
        since = {name: iso(NOW - dt.timedelta(days=spread * rng.randint(0, 120 if "ssh" in name else 400)))
                 for name in intent.SECRET_NAMES}
        intent.save(client, intent.TenantIntent(
            tenant, intent.DkimIntent("pm20260101", "n", retired, history=("pm20260101",)),
            admin_ssh=intent.SshIntent(grace=grace), since=since))
        for kind in (paths.SshKeyKind.ADMIN, paths.SshKeyKind.TENANT):
            rotated = NOW - dt.timedelta(days=rng.randint(0, 120))
            data = {"private_key": "placeholder", "public_key": "ssh-ed25519 AAAA bench", "fingerprint": "SHA256:x",
                    "algorithm": "ed25519", "created_at": iso(rotated), "last_rotated": iso(rotated),
                    "rotation_policy": "90_days"}
            kv.write_next(client, paths.ssh_key(tenant, kind), data)
        kv.write_next(client, paths.smtp_admin(tenant), {
            "username": f"admin@{domain}", "encrypted_password": "vault:v1:placeholder",
            "last_rotated": iso(NOW - dt.timedelta(days=rng.randint(0, 200))), "rotation_policy": "180_days"})
        kv.write_next(client, paths.dkim(domain, "pm20260101"), {
            "private_key": "placeholder", "public_key": "x", "state": "active",
            "last_rotated": iso(NOW - dt.timedelta(days=rng.randint(0, 400)))})

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, range(count)))


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
