"""The daemon manager with real processes: start, stale pid files, failing starts, whole-group stop."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from toolkit import daemon
from toolkit.errors import SetupError
from toolkit.net import free_port, free_port_block, port_free, require_free, tcp_listening


def _server_spec(tmp_path: Path, port: int) -> daemon.DaemonSpec:
    # A parent that forks a child: stop() must take the whole group down.
    script = (
        "import http.server, os, sys\n"
        "if os.fork() == 0:\n"
        "    import time; time.sleep(600)\n"
        f"http.server.HTTPServer(('127.0.0.1', {port}), http.server.BaseHTTPRequestHandler).serve_forever()\n"
    )
    return daemon.DaemonSpec(
        name="toy", argv=[sys.executable, "-c", script], state_dir=tmp_path,
        ready=lambda: tcp_listening("127.0.0.1", port),
    )


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[2]) == pgid and stat[0] != "Z":
                members.append(int(entry.name))
    return members


def test_start_is_idempotent_and_stop_leaves_nothing(tmp_path: Path) -> None:
    port = free_port()
    spec = _server_spec(tmp_path, port)
    pid = daemon.start(spec)
    assert daemon.start(spec) == pid  # second start finds the running one
    assert not port_free(port)
    assert len(_group_members(pid)) >= 2
    assert daemon.stop(spec)
    assert _group_members(pid) == []
    assert not spec.pid_file.exists()
    assert port_free(port)
    assert not daemon.stop(spec)  # stopping twice is fine


def test_stale_pid_file_from_killed_run_is_cleaned(tmp_path: Path) -> None:
    spec = _server_spec(tmp_path, free_port())
    spec.pid_file.write_text("999999")  # no such process
    assert daemon.running_pid(spec) is None
    assert not spec.pid_file.exists()


def test_process_that_dies_at_start_reports_log(tmp_path: Path) -> None:
    spec = daemon.DaemonSpec(
        name="dies", argv=[sys.executable, "-c", "import sys; print('bad flag'); sys.exit(3)"],
        state_dir=tmp_path, ready=lambda: False,
    )
    with pytest.raises(SetupError) as caught:
        daemon.start(spec)
    assert "exited with code 3" in str(caught.value) and "bad flag" in str(caught.value)
    assert not spec.pid_file.exists()


def test_missing_executable_says_what_to_do(tmp_path: Path) -> None:
    spec = daemon.DaemonSpec(name="nope", argv=["/nonexistent/binary"], state_dir=tmp_path)
    with pytest.raises(SetupError, match=r"scripts/setup\.sh"):
        daemon.start(spec)


def test_taken_port_gets_a_clear_message(tmp_path: Path) -> None:
    port = free_port()
    spec = _server_spec(tmp_path, port)
    daemon.start(spec)
    try:
        with pytest.raises(SetupError, match=f"port 127.0.0.1:{port} is already taken"):
            require_free(port, "OpenBao")
    finally:
        daemon.stop(spec)
    assert os.path.exists(spec.log_file)


def test_free_port_block_is_consecutive_and_free() -> None:
    base = free_port_block(4)
    assert all(port_free(base + i) for i in range(4))
