"""The Vault cluster stack (``platform/vault``) in a throwaway copy, run with the real engine against the Hostwinds
simulator, and its operators (``tests.pgp_operators``) unsealing it with ``invoke vault.unseal`` as they would."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from tests.e2e.engine import pulumi_env
from tests.fixtures.hostwinds import HW_API_KEY
from tests.pgp_operators import Operator
from toolkit.wait import wait_for

REPO = Path(__file__).resolve().parents[2]
INVOKE = str(REPO / ".venv" / "bin" / "invoke") if (REPO / ".venv" / "bin" / "invoke").exists() else "invoke"


class ClusterProject:
    def __init__(self, root: Path, api_url: str) -> None:
        self.root = root
        self.api_url = api_url
        (root / "stacks").mkdir(parents=True, exist_ok=True)
        project = yaml.safe_load((REPO / "platform/vault/Pulumi.yaml").read_text())
        project["runtime"]["options"]["virtualenv"] = sys.prefix
        (root / "Pulumi.yaml").write_text(yaml.safe_dump(project, sort_keys=False))
        shutil.copy(REPO / "platform/vault/__main__.py", root / "__main__.py")
        (root / "state").mkdir(exist_ok=True)
        self.env = pulumi_env(root / "state", {"HOSTWINDS_API_KEY": HW_API_KEY})

    def write_stack(self, stack: str, operators: list[Operator], **overrides: Any) -> Path:
        values: dict[str, Any] = {
            "cluster_name": f"c{stack}", "nodes": 3, "threshold": 3,
            "pgp_keys": [op.public_key for op in operators],
            "hostwinds": {"api_url": self.api_url, "poll_interval": 0.05, "poll_timeout": 120},
            "openbao": {"version": "2.7.2", "source": "local"}, "unseal_wait": 300,
        }
        values.update(overrides)
        config = {f"pm:{k}": v for k, v in values.items() if v is not None}
        path = self.root / "stacks" / f"Pulumi.{stack}.yaml"
        path.write_text(yaml.safe_dump({"config": config}, sort_keys=False))
        subprocess.run(["pulumi", "stack", "init", stack, "--non-interactive"], cwd=self.root, env=self.env,
                       capture_output=True, text=True, timeout=120, check=False)
        return self.root / "shares" / f"{stack}.json"

    def pulumi(self, *args: str, stack: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(["pulumi", *args, "--stack", stack, "--non-interactive"], cwd=self.root,
                                env=self.env, capture_output=True, text=True, timeout=900, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"pulumi {' '.join(args)} failed ({result.returncode}):\n{result.stdout[-6000:]}\n"
                                 f"{result.stderr[-3000:]}")
        return result

    def start(self, *args: str, stack: str) -> subprocess.Popen[str]:
        return subprocess.Popen(["pulumi", *args, "--stack", stack, "--non-interactive"], cwd=self.root,
                                env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def outputs(self, stack: str, secrets: bool = False) -> dict[str, Any]:
        extra = ("--show-secrets",) if secrets else ()
        return dict(json.loads(self.pulumi("stack", "output", "--json", *extra, stack=stack).stdout))


def operator_env(audit_log: Path, **settings: str) -> dict[str, str]:
    """An operator's shell: no sandbox or test Vault settings, only ``settings`` (VAULT_ADDRS, VAULT_CACERT, ...)."""
    env = {k: v for k, v in pulumi_env(Path("/nonexistent")).items() if not k.startswith(("VAULT_", "PM_"))}
    env.update({"COLUMNS": "200", "PM_AUDIT_LOG": str(audit_log), **settings})
    return env


def run_invoke(*args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess[str]:
    """``invoke <args>`` as the operator runs it, from the repository."""
    run = subprocess.run([INVOKE, *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=600)
    if check and run.returncode != 0:
        raise AssertionError(f"invoke {' '.join(args)} failed ({run.returncode}):\n{run.stdout[-4000:]}\n"
                             f"{run.stderr[-3000:]}")
    return run


def unseal_command(shares_file: Path, operator: Operator, addresses: list[str]) -> tuple[list[str], dict[str, str]]:
    env = operator_env(shares_file.parent / "a.log", GNUPGHOME=str(operator.home), VAULT_ADDRS=",".join(addresses))
    return [INVOKE, "vault.unseal", "--shares-file", str(shares_file), "--wait", "240"], env


def up_with_operators(project: ClusterProject, stack: str, shares_file: Path, operators: list[Operator],
                      timeout: float = 600.0, on_poll: Callable[[], bool] | None = None) -> tuple[str, list[str]]:
    """`pulumi up` while ``operators`` run `invoke vault.unseal` as soon as the shares are handed over. Returns the
    engine's output and each operator's."""
    up = project.start("up", "--yes", "--skip-preview", stack=stack)
    handed_over = on_poll or shares_file.exists
    try:
        wait_for(lambda: handed_over() or up.poll() is not None, what="the encrypted shares", timeout=timeout,
                 interval=0.1)
        if up.poll() is not None:
            raise AssertionError(f"pulumi up ended before handing over shares:\n{up.communicate()[0][-6000:]}")
        addresses = list(json.loads(shares_file.read_text())["addresses"])
        runs = [subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                for cmd, env in (unseal_command(shares_file, op, addresses) for op in operators)]
        reports = [run.communicate(timeout=timeout)[0] for run in runs]
        for run, report in zip(runs, reports, strict=True):
            assert run.returncode == 0, report[-3000:]
        out = up.communicate(timeout=timeout)[0]
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
    assert up.returncode == 0, out[-8000:]
    return out, reports


def environment(outputs: Mapping[str, Any], ca_file: Path) -> dict[str, str]:
    ca_file.write_text(str(outputs["ca_cert"]))
    return {"VAULT_ADDRS": str(outputs["vault_addrs"]), "VAULT_CACERT": str(ca_file)}
