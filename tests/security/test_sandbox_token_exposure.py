"""Attack: another local user reads the sandbox's OpenBao root token (issue 11 item 8c).

The dev server used to get its root token on its command line (``-dev-root-token-id=...``), which every local user
can read from ``ps`` or ``/proc/<pid>/cmdline``, and it printed the token into a 0644 log. Now the token goes
through the server's environment (readable only by its owner) and every file that holds it is 0600. The servers are
started the way the fixtures and ``invoke sandbox.up`` start them.
"""

from __future__ import annotations

import stat
from pathlib import Path

import requests

from sandbox.environment import Sandbox, VaultService
from sandbox.openbao import DevServer, RaftCluster
from sandbox.settings import SandboxSettings
from toolkit.net import free_port, free_port_block


def command_lines_holding(secret: str) -> list[str]:
    """Every process whose command line contains ``secret`` (what ``ps`` shows any local user)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if secret.encode() in cmdline:
                found.append(f"pid {entry.name}")
    return found


def files_holding(root: Path, secret: str) -> dict[Path, int]:
    """Every regular file under ``root`` containing ``secret``, with its permission bits."""
    found = {}
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink() and secret.encode() in path.read_bytes():
            found[path] = stat.S_IMODE(path.stat().st_mode)
    return found


def assert_token_not_exposed(token: str, root: Path, address: str) -> dict[Path, int]:
    assert requests.get(f"{address}/v1/auth/token/lookup-self", headers={"X-Vault-Token": token},
                        timeout=5).status_code == 200  # the token is real and the server is up
    assert command_lines_holding(token) == []
    holders = files_holding(root, token)
    assert {path: mode for path, mode in holders.items() if mode != 0o600} == {}
    return holders


def test_local_user_cannot_read_dev_root_token_from_ps_or_files(openbao_dev: DevServer) -> None:
    holders = assert_token_not_exposed(openbao_dev.root_token, openbao_dev.state_dir, openbao_dev.address)
    # The scan does see the token where it is meant to be (so "all 0600" is not vacuous).
    assert openbao_dev.state_dir / "root-token" in holders


def test_sandbox_up_keeps_the_root_token_private(tmp_path: Path) -> None:
    settings = SandboxSettings(root=tmp_path / "sbx", vault_mode="dev", vault_port=free_port())
    sandbox = Sandbox(settings, [VaultService(settings)])
    log = settings.root / "openbao" / "openbao.log"
    log.parent.mkdir(parents=True)
    log.write_text("left by an older run\n")
    log.chmod(0o644)  # a world-readable log from before the fix is tightened, not appended to as is
    try:
        env = sandbox.up()
        holders = assert_token_not_exposed(env["VAULT_TOKEN"], settings.root, env["VAULT_ADDR"])
        assert settings.env_file in holders
        # The server prints its token banner to the log once it is up (maybe after this scan): the log is private
        # from its first byte, whatever it holds by now.
        assert stat.S_IMODE(log.stat().st_mode) == 0o600
    finally:
        sandbox.down()


def test_raft_sandbox_keeps_the_root_token_private(tmp_path: Path) -> None:
    cluster = RaftCluster(tmp_path / "raft", nodes=1, base_port=free_port_block(2))
    try:
        cluster.start(timeout=60)
        holders = assert_token_not_exposed(cluster.root_token, cluster.state_dir, cluster.address(0))
        assert cluster.state_dir / "init.json" in holders
    finally:
        cluster.stop()
