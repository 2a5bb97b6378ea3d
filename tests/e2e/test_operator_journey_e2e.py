"""The operator's path, as the README tells it, run the way an operator runs it: a fresh checkout, `bash
scripts/demo.sh`, then `invoke tenant.new`, `pulumi stack init` + `pulumi up`, `invoke status`, `invoke dns.check`,
`invoke apikey.create`, `invoke vault.backup`, `invoke dr.drill`, `pulumi destroy`, `invoke demo.destroy`,
`invoke sandbox.down --purge`. Every `invoke` runs twice where it only reads - once with `.sandbox/env` sourced in
the shell and once without - and both must give the same result. The sandbox runs on free ports
(PM_SANDBOX_*_PORT), so this works beside any other sandbox."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sandbox.environment import sweep_processes
from toolkit.net import free_port, free_port_block

REPO = Path(__file__).resolve().parents[2]
TENANT = "journey"


@dataclass
class Checkout:
    """A copy of the repository (the files git knows) sharing this machine's .venv, and the operator's shell."""

    root: Path
    env: dict[str, str]

    def run(self, command: str, *, sourced: bool = False, check: bool = True) -> subprocess.CompletedProcess[str]:
        """One shell command line, as typed; ``sourced`` first does `set -a; . .sandbox/env`."""
        line = f"set -a; . .sandbox/env; set +a; {command}" if sourced else command
        result = subprocess.run(["bash", "-c", line], cwd=self.root, env=self.env, capture_output=True, text=True,
                                timeout=900, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"`{command}` (sourced={sourced}) exited {result.returncode}:\n"
                                 f"{result.stdout[-6000:]}\n{result.stderr[-3000:]}")
        return result

    def both(self, command: str, check: bool = True) -> tuple[subprocess.CompletedProcess[str], ...]:
        """The same command without and with the env file sourced."""
        return self.run(command, check=check), self.run(command, sourced=True, check=check)


def _copy_repository(target: Path) -> None:
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file() and not name.startswith((".sandbox/", ".venv/")):
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    (target / ".venv").symlink_to(REPO / ".venv")


def _shared_venv_current() -> None:
    """The copy shares this machine's .venv: bring it up to date here first, or the copy's `scripts/setup.sh` would
    reinstall the project into it from the copy (a directory deleted after the test)."""
    stamp = REPO / ".venv" / f".installed-{hashlib.sha256((REPO / 'pyproject.toml').read_bytes()).hexdigest()[:16]}"
    if not stamp.exists():
        subprocess.run(["bash", "scripts/setup.sh"], cwd=REPO, check=True, capture_output=True, timeout=1800)


def _project_installed_from_here() -> str:
    return subprocess.run([str(REPO / ".venv" / "bin" / "python"), "-c", "import toolkit; print(toolkit.__file__)"],
                          cwd="/", capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Checkout]:
    _shared_venv_current()
    root = tmp_path_factory.mktemp("operator") / "pm-mail-infra"
    _copy_repository(root)
    engine = (REPO / ".venv" / "pulumi-bin-dir").read_text().strip()
    raft = free_port_block(2)
    env = {
        "PATH": f"{root / '.venv' / 'bin'}:{engine}:{os.environ['PATH']}", "HOME": os.environ["HOME"],
        "LANG": "C.UTF-8", "COLUMNS": "200", "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PM_SANDBOX_VAULT_PORT": str(free_port()), "PM_SANDBOX_RAFT_PORT": str(raft),
        "PM_SANDBOX_DNS_PORT": str(free_port()), "PM_SANDBOX_HOSTWINDS_PORT": str(free_port()),
        "PM_AUDIT_LOG": str(root / "audit.jsonl"), "PULUMI_HOME": str(root.parent / "pulumi-home"),
    }
    try:
        yield Checkout(root, env)
    finally:
        subprocess.run(["bash", "-c", "invoke sandbox.down --purge"], cwd=root, env=env, capture_output=True,
                       check=False, timeout=300)
        sweep_processes(root / ".sandbox")
        installed = _project_installed_from_here()
        assert installed.startswith(str(REPO)), f"the shared .venv now imports the project from {installed}"


def _status(result: subprocess.CompletedProcess[str]) -> dict[str, object]:
    data = json.loads(result.stdout)
    return {tenant["tenant"]: {name: cell["severity"] for name, cell in tenant["checks"].items()}
            for tenant in data["tenants"]}


@pytest.mark.timeout(1200)
def test_operator_journey_from_the_demo_to_teardown(checkout: Checkout) -> None:
    # 1. The README's first command.
    demo = checkout.run("bash scripts/demo.sh")
    assert "done in" in demo.stdout
    assert checkout.run("bash scripts/demo.sh").stdout.count("no changes") == 1  # a second run changes nothing
    sandbox = checkout.run("invoke sandbox.status").stdout
    assert f"127.0.0.1:{checkout.env['PM_SANDBOX_RAFT_PORT']}" in sandbox and "env file" in sandbox

    # 2. A new tenant: scaffolded with the sandbox's defaults, converged by pulumi (which needs the env file).
    checkout.run(f"invoke tenant.new --tenant {TENANT} --domain {TENANT}.sandbox.test --ssh-key-type ed25519 "
                 "--poll-interval 0.1")
    checkout.run(f"pulumi stack init {TENANT}", sourced=True)
    checkout.run(f"pulumi up --yes --stack {TENANT}", sourced=True)
    checkout.run(f"pulumi preview --expect-no-changes --stack {TENANT}", sourced=True)

    # 3. Day-2 checks: the same answer whether or not the shell sourced the env file.
    for result in checkout.both(f"invoke dns.check --tenant {TENANT}"):
        assert "Traceback" not in result.stderr
    created = checkout.run(f"invoke apikey.create --tenant {TENANT} --name journey-app")
    assert any(line.startswith("pm_live_") for line in created.stdout.splitlines())
    listed = [json.loads(r.stdout) for r in checkout.both(f"invoke apikey.list --tenant {TENANT} --json")]
    assert listed[0] == listed[1] and len(listed[0]["keys"]) == 1

    # 4. Backups work on the default sandbox, and the drill restores them.
    checkout.run("invoke vault.backup")
    for result in checkout.both("invoke vault.backup-status --json"):
        assert json.loads(result.stdout)["status"] == "ok"
    drills = checkout.both("invoke dr.drill")
    assert all("DR drill PASSED" in d.stdout for d in drills)

    plain, sourced = checkout.both("invoke status --json", check=False)
    assert plain.returncode == sourced.returncode and _status(plain) == _status(sourced)
    assert set(_status(plain)) == {"demo", TENANT}
    for cells in _status(plain).values():
        assert isinstance(cells, dict)
        assert cells["vps"] == cells["dns"] == cells["backup"] == cells["vault"] == "ok", cells

    # 5. Teardown, as the README says.
    checkout.run(f"pulumi destroy --yes --stack {TENANT}", sourced=True)
    checkout.run("invoke demo.destroy")
    checkout.run("invoke sandbox.down --purge")
    assert not (checkout.root / ".sandbox").exists()
    left = subprocess.run(["pgrep", "-f", str(checkout.root / ".sandbox")], capture_output=True, text=True)
    assert left.stdout == "", "a sandbox process outlived `sandbox.down`"
