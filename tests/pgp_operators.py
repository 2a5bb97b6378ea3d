"""Throwaway operators with OpenPGP keys (real ``gpg``, ed25519/cv25519, no passphrase), each in its own GNUPGHOME,
for tests and benches of the Vault cluster's PGP-encrypted unseal shares."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class Operator:
    name: str
    home: Path
    public_key: str
    """ASCII-armored public key, as an operator hands it over."""


def require_gpg() -> str:
    found = shutil.which("gpg")
    if found is None:
        pytest.skip("gpg is not installed (Debian: apt-get install gnupg)")
    return found


def make_operators(root: Path, count: int = 5) -> list[Operator]:
    gpg = require_gpg()
    operators = []
    for index in range(1, count + 1):
        home = root / f"op{index}"
        home.mkdir(parents=True, mode=0o700)
        uid = f"Operator {index} <op{index}@pm.test>"
        subprocess.run([gpg, "--batch", "--homedir", str(home), "--passphrase", "", "--quick-gen-key", uid,
                        "future-default", "default", "never"], check=True, capture_output=True, timeout=60)
        exported = subprocess.run([gpg, "--batch", "--homedir", str(home), "--armor", "--export", uid], check=True,
                                  capture_output=True, text=True, timeout=60).stdout
        operators.append(Operator(f"op{index}", home, exported))
    return operators


def stop_agents(operators: list[Operator]) -> None:
    """gpg starts an agent per GNUPGHOME: stop them (no process left behind)."""
    for operator in operators:
        subprocess.run(["gpgconf", "--homedir", str(operator.home), "--kill", "gpg-agent"], check=False,
                       capture_output=True, timeout=30)
