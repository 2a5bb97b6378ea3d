"""The fleet-wide tasks at 10,000 tenants, each run as an operator runs it (`invoke ...` in its own process), with its
wall time and the peak resident memory of the task's process tree (``wait4``). Prints numbers; asserts nothing.

    PYTHONPATH=. .venv/bin/python bench/bench_fleet.py [--tenants 10000] [--only plan,status,rotate,backup]

- ``plan``: `invoke ci.plan --base HEAD~1` in a git repository of N stack files after a shared-code commit (every
  stack file checked for validity and uniqueness, the stages and shard jobs planned).
- ``status``: `invoke status --json --no-outputs` on N tenants whose intent and keys live in a dev OpenBao: the
  Vault-side checks (intent, key ages) per tenant; no Hostwinds, DNS or SSH answers here (those cells are unknown).
- ``rotate``: `invoke rotate.due --dry-run` on the same tenants (one intent read per tenant, the due computation).
- ``backup``: `invoke vault.backup` (canaries, inventory of every secret with its keyed checksum, raft snapshot,
  encryption, self-verification, upload, manifest) on a raft OpenBao holding N tenants x 4 secrets, then
  `invoke dr.drill` (restore into a scratch Vault, unseal, every secret's checksum verified), its steps from
  the drill's report.
Everything started here is stopped before exit.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.synthetic_fleet import NOW, check_sample, seed_vault, write_stack_files  # noqa: E402
from fleet.clock import iso  # noqa: E402
from sandbox.openbao import DevServer  # noqa: E402
from toolkit.net import free_port  # noqa: E402
from toolkit.redact import Secret  # noqa: E402
from vault.bootstrap import bootstrap  # noqa: E402
from vault.client import VaultClient  # noqa: E402
from vault.config import VaultConfig  # noqa: E402


@dataclass(frozen=True)
class Run:
    seconds: float
    cpu: float
    """CPU seconds of the task's process tree (the server's not included): what the wall time is on idle cores."""
    peak_mib: float
    code: int
    output: str


def measure(args: list[str], env: Mapping[str, str], log: Path) -> Run:
    """Run ``invoke <args>``; wall time, exit code, and the largest RSS of the task and its children."""
    with log.open("w") as out:
        started = time.perf_counter()
        process = subprocess.Popen([sys.executable, "-m", "invoke", *args], cwd=REPO, env=dict(env), stdout=out,
                                   stderr=subprocess.STDOUT)
        _pid, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    return Run(seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, process.returncode, log.read_text())


def report(what: str, run: Run, goal: str, extra: str = "") -> None:
    print(f"{what:<48} {run.seconds:6.1f} s (task CPU {run.cpu:5.1f} s, load {os.getloadavg()[0]:4.1f})  peak "
          f"{run.peak_mib:5.0f} MiB  exit {run.code}  (goal {goal}){extra}", flush=True)


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.email=b@b", "-c", "user.name=b", *args], cwd=repo, check=True,
                   capture_output=True)


def bench_plan(root: Path, count: int, base_env: Mapping[str, str]) -> None:
    repo = root / "repo"
    names = write_stack_files(repo / "stacks", count)
    check_sample(repo / "stacks", names)
    (repo / "stacks" / "canary.txt").write_text("\n".join(names[:5]) + "\n")
    (repo / "fleet").mkdir()
    (repo / "fleet" / "code.py").write_text("VERSION = 1\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "fleet")
    (repo / "fleet" / "code.py").write_text("VERSION = 2\n")
    git(repo, "commit", "-qam", "shared code")
    run = measure(["ci.plan", "--repo", str(repo), "--base", "HEAD~1"], base_env, root / "plan.log")
    stages = json.loads(run.output[run.output.index('{"rollout"'):].splitlines()[0])["stages"]
    jobs = ", ".join(f"{s['name']} {s['stacks']}/{len(s['matrix']['include'])}" for s in stages)
    report(f"ci.plan, {count:,} stack files", run, "< 5 s", f"  stages (stacks/jobs): {jobs}")


def bench_vault_side(root: Path, count: int, base_env: Mapping[str, str], only: set[str]) -> None:
    server = DevServer(root / "dev", port=free_port())
    server.start()
    try:
        client = VaultClient(VaultConfig((server.address,), token=Secret(server.root_token)))
        bootstrap(client)
        project = root / "project"
        write_stack_files(project / "stacks", count)
        started = time.perf_counter()
        seed_vault(client, count)
        print(f"  (seeded {count:,} tenants x 5 Vault records in {time.perf_counter() - started:.0f} s)", flush=True)
        client.close()
        (root / "backups").mkdir()
        env = {**base_env, "VAULT_ADDR": server.address, "VAULT_TOKEN": server.root_token,
               "PM_BACKUP_DEST": str(root / "backups"), "PM_AUDIT_LOG": str(root / "audit.jsonl")}
        if "status" in only:
            run = measure(["status", "--json", "--no-outputs", "--stacks-dir", str(project / "stacks"),
                           "--workers", "16"], env, root / "status.log")
            body = json.loads(run.output[run.output.index("{"):])
            keys = sum(1 for t in body["tenants"] if t["checks"]["keys"]["severity"] != "unknown")
            report(f"status --json (Vault checks), {count:,} tenants", run, "< 60 s",
                   f"  key checks answered: {keys:,}")
        if "rotate" in only:
            run = measure(["rotate.due", "--dry-run", "--work-dir", str(project), "--now", iso(NOW),
                           "--parallelism", "16", "--limit", "5"], env, root / "rotate.log")
            counts = next((line.strip() for line in run.output.splitlines() if " tenant(s): " in line), "")
            report(f"rotate.due --dry-run, {count:,} tenants", run, "< 30 s", f"  {counts}")
    finally:
        server.stop()


def bench_backup(root: Path, count: int, base_env: Mapping[str, str]) -> None:
    from tests.fixtures.backup import enable_kv_mounts, seed_tenants, start_raft
    from vault.backup import BackupKey

    source = start_raft(root / "source")
    try:
        enable_kv_mounts(source)
        started = time.perf_counter()
        seed_tenants(source, count)
        print(f"  (seeded {count:,} tenants x 4 secrets in {time.perf_counter() - started:.0f} s)", flush=True)
        key_file = root / "backup.key"
        key_file.write_text(BackupKey.generate().to_base64() + "\n")
        key_file.chmod(0o600)
        env = {**base_env, "VAULT_ADDR": source.address(0), "VAULT_TOKEN": source.root_token,
               "PM_BACKUP_DEST": str(root / "backups"), "PM_BACKUP_KEY_FILE": str(key_file),
               "PM_SOURCE_UNSEAL_KEYS_FILE": str(source.init_file), "PM_AUDIT_LOG": str(root / "audit.jsonl")}
        run = measure(["vault.backup", "--no-prune"], env, root / "backup.log")
        report(f"vault.backup incl. verified manifest, {count:,} tenants", run, "< 30 s")
        drill = root / "drill.json"
        run = measure(["dr.drill", "--report", str(drill)], env, root / "drill.log")
        timings = json.loads(drill.read_text()).get("timings_seconds", {}) if drill.exists() else {}
        steps = ", ".join(f"{k} {float(v):.1f} s" for k, v in timings.items())
        report(f"dr.drill (restore + verify every secret), {count:,} tenants", run, "verify < 30 s", f"  {steps}")
    finally:
        source.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=10_000)
    parser.add_argument("--only", default="plan,status,rotate,backup")
    args = parser.parse_args()
    only = set(args.only.split(","))
    base_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/root"),
                "COLUMNS": "200", "PYTHONPATH": str(REPO)}
    with tempfile.TemporaryDirectory(prefix="pm-bench-fleet-") as tmp:
        root = Path(tmp)
        if "plan" in only:
            bench_plan(root / "plan", args.tenants, base_env)
        if only & {"status", "rotate"}:
            bench_vault_side(root / "vault", args.tenants, base_env, only)
        if "backup" in only:
            bench_backup(root / "backup", args.tenants, base_env)


if __name__ == "__main__":
    main()
