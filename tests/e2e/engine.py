"""Shared helpers for end-to-end tests with the real Pulumi engine (CLI + Python language host).

A missing engine skips with the reason printed, except under CI=true where it fails: CI never silently skips
the engine tests.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ENGINE_GLOB = str(Path.home() / ".cache/pm-toolkit/pulumi-engine/*/bin/pulumi")


def skip_or_fail(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    print(f"SKIP: {reason}")
    pytest.skip(reason)


def engine_bin_dir() -> Path:
    """The folder holding `pulumi` and `pulumi-language-python` (setup records it in .venv/pulumi-bin-dir)."""
    recorded = REPO / ".venv" / "pulumi-bin-dir"
    candidates = []
    if recorded.exists():
        candidates.append(Path(recorded.read_text().strip()) / "pulumi")
    candidates += [Path(p) for p in sorted(glob.glob(ENGINE_GLOB))]
    on_path = shutil.which("pulumi")
    if on_path:
        candidates.append(Path(on_path))
    for pulumi in candidates:
        if pulumi.exists() and (
            (pulumi.parent / "pulumi-language-python").exists() or shutil.which("pulumi-language-python")
        ):
            return pulumi.parent
    skip_or_fail(f"the Pulumi engine was not found (looked in .venv/pulumi-bin-dir, {ENGINE_GLOB} and PATH); "
                 "run scripts/setup.sh")
    raise AssertionError("unreachable")


def pulumi_env(state_dir: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for `pulumi` on a file backend with the passphrase provider, nothing downloaded."""
    bin_dir = engine_bin_dir()
    return {
        **os.environ,
        "PATH": f"{bin_dir}:{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        "PULUMI_BACKEND_URL": f"file://{state_dir}",
        "PULUMI_HOME": str(state_dir / ".pulumi-home"),
        "PULUMI_CONFIG_PASSPHRASE": "e2e-passphrase",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PYTHONPATH": str(REPO),
        **(extra or {}),
    }


def pulumi(cwd: Path, env: Mapping[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["pulumi", *args, "--non-interactive"], cwd=cwd, env=dict(env), capture_output=True, text=True,
        timeout=900, check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"pulumi {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def python_project(directory: Path, name: str, program: str) -> Path:
    """A Pulumi Python project using this venv (no pip install, nothing downloaded)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "Pulumi.yaml").write_text(
        f"name: {name}\nruntime:\n  name: python\n  options:\n    toolchain: pip\n    virtualenv: {sys.prefix}\n"
    )
    (directory / "__main__.py").write_text(program)
    return directory
