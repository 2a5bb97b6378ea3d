"""``vault.cluster.initialise`` refuses before writing anything: an unreachable node, a cluster already initialised."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.openbao import DevServer
from toolkit.net import free_port
from vault.cluster import ClusterRefused, initialise


def test_an_unreachable_node_at_init_is_refused(openbao_dev: DevServer, tmp_path: Path) -> None:
    shares = tmp_path / "shares.json"
    missing = f"https://127.0.0.1:{free_port()}"
    with pytest.raises(ClusterRefused, match=f"{missing} did not answer over TLS.*nothing was initialised"):
        initialise([missing, openbao_dev.address], True, pgp_keys=["x"], fingerprints=["X"], threshold=1,
                   shares_file=shares, unseal_wait=1)
    assert not shares.exists()


def test_a_second_init_is_refused(openbao_dev: DevServer, tmp_path: Path) -> None:
    shares = tmp_path / "shares.json"
    with pytest.raises(ClusterRefused, match="already initialised: a second init is refused"):
        initialise([openbao_dev.address], True, pgp_keys=["x"], fingerprints=["X"], threshold=1,
                   shares_file=shares, unseal_wait=1)
    assert not shares.exists()
