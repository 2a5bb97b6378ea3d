"""The SSH executor against real OpenSSH servers (sandbox VPS hosts)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from tests.fixtures.mailu import KeyPair, make_ed25519
from toolkit.ssh import (
    CommandFailed,
    HostKeyError,
    KnownHosts,
    RemoteFileMissing,
    SshAuthError,
    SshExecutor,
    sha256_hex,
)

VpsFactory = Callable[..., Any]
ExecutorFor = Callable[..., SshExecutor]


def test_run_returns_exit_code_and_outputs(mailu_vps: Any, mailu_executor_for: ExecutorFor) -> None:
    executor = mailu_executor_for(mailu_vps)
    result = executor.run("echo out; echo err >&2; hostname")
    assert result.ok and result.stdout.split() == ["out", "vps"] and result.stderr.strip() == "err"
    quiet = executor.run(["sh", "-c", "exit 7"], check=False)
    assert quiet.exit_code == 7 and not quiet.ok


def test_failure_raises_typed_redacted_error(mailu_vps: Any, mailu_executor_for: ExecutorFor) -> None:
    executor = mailu_executor_for(mailu_vps)
    executor.register_secret("s3cr3t-value-xyz")
    executor.put_file("/root/leak.txt", b"s3cr3t-value-xyz\n", mode=0o600)
    with pytest.raises(CommandFailed) as info:
        executor.run("cat /root/leak.txt >&2; exit 3")
    assert info.value.exit_code == 3
    assert "s3cr3t-value-xyz" not in str(info.value) and "REDACTED" in info.value.stderr


def test_put_file_sets_content_mode_owner_atomically(mailu_vps: Any, mailu_executor_for: ExecutorFor) -> None:
    executor = mailu_executor_for(mailu_vps)
    payload = bytes(range(256)) * 64
    executor.run("mkdir -p /srv/t && useradd --no-create-home tuser")
    executor.put_file("/srv/t/blob.bin", payload, mode=0o640, owner="tuser", group="root")
    assert executor.read_file("/srv/t/blob.bin") == payload
    stats = executor.file_stats(["/srv/t/blob.bin", "/srv/t", "/srv/t/none"])
    blob = stats["/srv/t/blob.bin"]
    assert blob is not None and (blob.kind, blob.mode, blob.owner, blob.group) == ("file", 0o640, "tuser", "root")
    assert blob.sha256 == sha256_hex(payload)
    folder = stats["/srv/t"]
    assert folder is not None and folder.kind == "dir"
    assert stats["/srv/t/none"] is None
    assert executor.run("ls -A /srv/t").stdout.split() == ["blob.bin"]  # no temporary file left behind
    assert mailu_vps.path("/srv/t/blob.bin").read_bytes() == payload


def test_read_missing_file(mailu_vps: Any, mailu_executor_for: ExecutorFor) -> None:
    executor = mailu_executor_for(mailu_vps)
    assert executor.read_file_if_exists("/nope") is None
    with pytest.raises(RemoteFileMissing):
        executor.read_file("/nope")


def test_secrets_travel_only_on_stdin(mailu_vps: Any, mailu_executor_for: ExecutorFor) -> None:
    executor = mailu_executor_for(mailu_vps)
    secret = b"TOP-SECRET-CONTENT-42"
    executor.put_file("/root/secret.txt", secret, mode=0o600)
    audit = executor.run("cat /proc/*/cmdline 2>/dev/null | tr '\\0' ' '", check=False).stdout
    assert "TOP-SECRET" not in audit
    sshd_log = (mailu_vps.root_dir / "sshd.log").read_text(errors="replace")
    assert "TOP-SECRET" not in sshd_log


def test_pinned_key_mismatch_is_refused(mailu_vps_factory: VpsFactory, mailu_admin_key: KeyPair) -> None:
    host_a, host_b = mailu_vps_factory("vpsa"), mailu_vps_factory("vpsb")
    wrong = host_b.known_hosts_line().replace(host_b.address, host_a.address)
    executor = SshExecutor(host_a.address, mailu_admin_key.private, known_hosts=KnownHosts([wrong]), boot_timeout=5)
    with pytest.raises(HostKeyError, match="differs"):
        executor.run("true")


def test_unknown_host_refused_without_tofu_and_recorded_with_it(mailu_vps: Any, mailu_admin_key: KeyPair) -> None:
    with pytest.raises(HostKeyError, match="not pinned"):
        SshExecutor(mailu_vps.address, mailu_admin_key.private, boot_timeout=5).run("true")
    known = KnownHosts(trust_on_first_use=True)
    with SshExecutor(mailu_vps.address, mailu_admin_key.private, known_hosts=known, boot_timeout=5) as executor:
        executor.run("true")
    recorded = known.recorded[0].split()
    assert recorded[:3] == mailu_vps.known_hosts_line().split()[:3]


def test_wrong_private_key_is_an_auth_error(mailu_vps: Any) -> None:
    stranger = make_ed25519()
    executor = SshExecutor(mailu_vps.address, stranger.private, known_hosts=KnownHosts([mailu_vps.known_hosts_line()]),
                           boot_timeout=5)
    with pytest.raises(SshAuthError):
        executor.run("true")


def test_connect_retries_while_the_host_boots(mailu_vps_factory: VpsFactory, mailu_admin_key: KeyPair) -> None:
    host = mailu_vps_factory("late")
    host.stop()
    starter = threading.Timer(1.0, host.start)
    starter.start()
    try:
        executor = SshExecutor(host.address, mailu_admin_key.private, known_hosts=KnownHosts([host.known_hosts_line()]),
                               boot_timeout=30)
        with executor:
            assert executor.run("echo up").stdout.strip() == "up"
    finally:
        starter.join()


def test_reconnects_after_a_reboot(mailu_vps: Any, mailu_executor_for: ExecutorFor) -> None:
    executor = mailu_executor_for(mailu_vps)
    executor.run("true")
    mailu_vps.stop()
    mailu_vps.start()
    assert executor.run("echo again").stdout.strip() == "again"
