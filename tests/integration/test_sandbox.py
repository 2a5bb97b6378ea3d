"""The whole sandbox as one unit: real OpenBao, BIND, the Hostwinds simulator, the Pulumi backend dir."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import dns.message
import dns.query
import hvac
import pytest
import requests

from sandbox.environment import Sandbox, read_env
from sandbox.settings import SandboxSettings
from toolkit.errors import SetupError
from toolkit.net import free_port, free_port_block


def _settings(root: Path, vault_mode: str = "dev") -> SandboxSettings:
    return SandboxSettings(
        root=root, vault_mode=vault_mode, vault_port=free_port(), raft_base_port=free_port_block(2),  # type: ignore[arg-type]
        dns_port=free_port(), hostwinds_port=free_port(),
    )


def _processes_under(root: Path) -> list[str]:
    marker = str(root) + os.sep
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if marker in cmdline:
                found.append(f"{entry.name}: {cmdline[:120]}")
    return found


def test_up_is_idempotent_serves_everything_and_down_leaves_nothing(tmp_path: Path) -> None:
    settings = _settings(tmp_path / "sbx")
    sandbox = Sandbox.default(settings)
    try:
        env = sandbox.up()
        assert sandbox.up() == env  # second up finds everything running, same settings
        assert all(sandbox.status().values())
        assert read_env(settings) == env
        assert (settings.env_file.stat().st_mode & 0o777) == 0o600

        vault = hvac.Client(env["VAULT_ADDR"], token=env["VAULT_TOKEN"])
        mounts = vault.sys.list_mounted_secrets_engines()["data"]
        assert {"vps/", "smtp/", "api_keys/", "dkim/", "transit/"} <= set(mounts)
        assert "file/" in vault.sys.list_enabled_audit_devices()["data"]

        soa = dns.message.make_query(env["PM_DNS_ZONE"], "SOA")
        answer = dns.query.tcp(soa, "127.0.0.1", port=int(env["PM_DNS_PORT"]), timeout=5)
        assert answer.answer, "BIND answers for the sandbox zone"

        form = {"action": "get_instances", "API": env["HOSTWINDS_API_KEY"]}
        reply = requests.post(env["HOSTWINDS_API_URL"], data=form, timeout=5)
        assert reply.status_code == 200 and "success" in reply.json()
        assert env["PULUMI_BACKEND_URL"] == f"file://{settings.pulumi_state_dir}"
    finally:
        sandbox.down()
    assert not any(sandbox.status()[name] for name in ("openbao", "bind", "hostwinds-simulator"))
    assert _processes_under(settings.root) == []


def test_stale_sandbox_from_a_killed_run_recovers(tmp_path: Path) -> None:
    settings = _settings(tmp_path / "sbx")
    sandbox = Sandbox.default(settings)
    try:
        sandbox.up()
        pid = int((settings.root / "openbao" / "openbao.pid").read_text())
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        env = sandbox.up()  # the stale pid file is recognised; OpenBao starts again and is bootstrapped
        vault = hvac.Client(env["VAULT_ADDR"], token=env["VAULT_TOKEN"])
        assert vault.sys.read_health_status(method="GET")["initialized"]
    finally:
        sandbox.down()
    assert _processes_under(settings.root) == []


def test_taken_port_fails_clearly_and_starts_nothing(tmp_path: Path) -> None:
    settings = _settings(tmp_path / "sbx")
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", settings.hostwinds_port))
    blocker.listen()
    sandbox = Sandbox.default(settings)
    try:
        with pytest.raises(SetupError, match=f"port 127.0.0.1:{settings.hostwinds_port} is already taken"):
            sandbox.up()
        assert not any(sandbox.status()[name] for name in ("openbao", "bind", "hostwinds-simulator"))
        assert _processes_under(settings.root) == []
    finally:
        blocker.close()
        sandbox.down()


def test_raft_mode_is_the_default_durable_and_ready_for_backups(tmp_path: Path) -> None:
    settings = SandboxSettings(root=tmp_path / "sbx", raft_base_port=free_port_block(2), dns_port=free_port(),
                               hostwinds_port=free_port())
    assert settings.vault_mode == "raft" and settings.vault_nodes == 1
    sandbox = Sandbox.default(settings)
    try:
        env = sandbox.up()
        vault = hvac.Client(env["VAULT_ADDR"], token=env["VAULT_TOKEN"])
        health = vault.sys.read_health_status(method="GET")
        assert health["initialized"] and not health["sealed"]
        assert "vps/" in vault.sys.list_mounted_secrets_engines()["data"]
        vault.secrets.kv.v2.create_or_update_secret("probe", {"kept": "yes"}, mount_point="vps")

        # Backups work out of the box: a destination, a private key and the sandbox's own unseal keys.
        assert Path(env["PM_BACKUP_DEST"]).is_dir()
        assert (Path(env["PM_BACKUP_KEY_FILE"]).stat().st_mode & 0o777) == 0o600
        assert "keys_base64" in Path(env["PM_SOURCE_UNSEAL_KEYS_FILE"]).read_text()
        key_before = Path(env["PM_BACKUP_KEY_FILE"]).read_text()

        sandbox.down()
        again = sandbox.up()  # restarted, unsealed with the kept keys: the data survived
        vault = hvac.Client(again["VAULT_ADDR"], token=again["VAULT_TOKEN"])
        kept = vault.secrets.kv.v2.read_secret_version("probe", mount_point="vps", raise_on_deleted_version=True)
        assert kept["data"]["data"] == {"kept": "yes"}
        assert Path(again["PM_BACKUP_KEY_FILE"]).read_text() == key_before  # the key is never replaced
    finally:
        sandbox.down()
    assert _processes_under(settings.root) == []
