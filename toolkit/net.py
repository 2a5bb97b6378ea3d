"""Loopback port helpers: is a port free, pick a free one, wait for a TCP listener."""

from __future__ import annotations

import contextlib
import socket

from toolkit.errors import SetupError


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def require_free(port: int, what: str, host: str = "127.0.0.1") -> None:
    if not port_free(port, host):
        raise SetupError(
            f"start {what}", f"port {host}:{port} is already taken by another process",
            f"stop that process (see `ss -ltnp 'sport = :{port}'`) or choose another port for {what}",
        )


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def free_port_block(count: int, host: str = "127.0.0.1", attempts: int = 200) -> int:
    """A base port such that ``base .. base+count-1`` are all free (a raft node needs its API port and the next
    one for cluster traffic, so a cluster of n nodes needs 2n)."""
    for _ in range(attempts):
        base = free_port(host)
        if base + count <= 65536 and all(port_free(base + i, host) for i in range(1, count)):
            return base
    raise SetupError(
        "find free ports", f"no block of {count} consecutive free ports on {host}", "stop some local servers"
    )


def tcp_listening(host: str, port: int, timeout: float = 0.3) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False
