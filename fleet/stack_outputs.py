"""Read a tenant stack's outputs (serviceid, main_ip, Vault paths, ...) with the `pulumi` CLI.

Used by tasks that need the live facts Pulumi recorded (dns.check, the demo report, status, migration).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from toolkit.errors import ToolkitError
from toolkit.redact import scrub

REPO = Path(__file__).resolve().parent.parent


class StackOutputsError(ToolkitError):
    """The stack's outputs could not be read (no such stack, not deployed, engine missing)."""


def engine_path(env: Mapping[str, str] | None = None) -> str:
    """PATH with the engine that scripts/setup.sh installed in front (recorded in .venv/pulumi-bin-dir)."""
    base = (env or os.environ).get("PATH", "")
    recorded = REPO / ".venv" / "pulumi-bin-dir"
    venv_bin = REPO / ".venv" / "bin"
    parts = [recorded.read_text().strip()] if recorded.exists() else []
    return ":".join([*parts, str(venv_bin), base])


def stack_outputs(stack: str, *, work_dir: Path = REPO, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    run_env = {**os.environ, **(env or {})}
    run_env["PATH"] = engine_path(run_env)
    try:
        result = subprocess.run(
            ["pulumi", "stack", "output", "--json", "--stack", stack, "--non-interactive"], cwd=work_dir,
            env=run_env, capture_output=True, text=True, timeout=120, check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise StackOutputsError(f"pulumi stack output --stack {stack}: {exc}") from None
    if result.returncode != 0:
        raise StackOutputsError(f"pulumi stack output --stack {stack}: {scrub(result.stderr.strip())[-300:]}")
    data = json.loads(result.stdout or "{}")
    return data if isinstance(data, dict) else {}
