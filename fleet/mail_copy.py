"""Copy Mailu's mail data from an old host to a new one over SSH, streamed through this process.

``tar`` on the old host writes the archive to its SSH channel; this process forwards each chunk to ``tar -x`` on
the new host's channel. Nothing lands on local disk, nothing is held in memory beyond one chunk, and the admin
key (read from Vault by the caller) stays in memory. Owners are kept numerically (Mailu's container users have
no names on the host).

Best effort by design (RPO 0 is for secrets, not mail): an old host that does not answer is reported as
``copied=False`` with a warning, never raised. A failure on the new host (tar refused the stream) is raised.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Sequence
from dataclasses import dataclass

import paramiko

from toolkit.errors import ToolkitError
from toolkit.redact import scrub
from toolkit.ssh import SshConnectError, SshError, SshExecutor

DEFAULT_PATHS: tuple[str, ...] = ("/mailu/mail", "/mailu/data")
CHUNK = 256 * 1024


class MailCopyError(SshError):
    """The stream broke or the new host's tar failed."""


@dataclass(frozen=True)
class CopyResult:
    copied: bool
    bytes_copied: int = 0
    paths: tuple[str, ...] = ()
    warning: str = ""


def copy_mail_data(
    source: SshExecutor, dest: SshExecutor, paths: Sequence[str] = DEFAULT_PATHS, *, timeout: float = 3600.0,
) -> CopyResult:
    """Stream ``paths`` (absolute directories) from ``source`` to ``dest``; an unreachable source is a warning."""
    try:
        stats = source.file_stats(list(paths))
    except (SshConnectError, ToolkitError) as exc:
        return CopyResult(False, warning=f"old host {source.host} not reachable, mail data not copied: "
                                         f"{scrub(str(exc))}")
    present = tuple(p for p, stat in stats.items() if stat is not None and stat.kind == "dir")
    if not present:
        return CopyResult(True, 0, (), warning=f"old host {source.host} has none of {', '.join(paths)}")
    relative = " ".join(shlex.quote(p.lstrip("/")) for p in present)
    dest.run("mkdir -p " + " ".join(shlex.quote(p) for p in present))
    sent = _stream(source, dest, f"tar -C / --numeric-owner -cpf - -- {relative}",
                   "tar -C / --numeric-owner -xpf -", timeout)
    return CopyResult(True, sent, present)


def _stream(source: SshExecutor, dest: SshExecutor, read_cmd: str, write_cmd: str, timeout: float) -> int:
    # The executors expose whole-command runs only; streaming needs their channels (reconnecting as they do).
    out = source.open_channel()
    into = dest.open_channel()
    deadline = time.monotonic() + timeout
    sent = 0
    try:
        out.exec_command(read_cmd)
        into.exec_command(write_cmd)
        out.settimeout(30.0)
        while True:
            if time.monotonic() > deadline:
                raise MailCopyError(f"copy {source.host} -> {dest.host} still running after {timeout:.0f} s")
            chunk = out.recv(CHUNK)
            if not chunk:
                break
            into.sendall(chunk)
            sent += len(chunk)
        into.shutdown_write()
        read_status = out.recv_exit_status()
        write_status = into.recv_exit_status()
        if read_status not in (0, 1):  # GNU tar: 1 = some files changed while being read (live mail)
            raise MailCopyError(f"tar on {source.host} exited with {read_status}: {_stderr(out)}")
        if write_status != 0:
            raise MailCopyError(f"tar on {dest.host} exited with {write_status}: {_stderr(into)}")
    except (OSError, EOFError, paramiko.SSHException) as exc:
        raise MailCopyError(f"copy {source.host} -> {dest.host} broke after {sent} bytes: {exc}") from None
    finally:
        out.close()
        into.close()
    return sent


def _stderr(channel: paramiko.Channel) -> str:
    data = b""
    while channel.recv_stderr_ready():
        data += channel.recv_stderr(65536)
    return scrub(data.decode(errors="replace").strip()[-300:])
