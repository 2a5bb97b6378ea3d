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


def tcp_listening(host: str, port: int, timeout: float = 0.3) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False
