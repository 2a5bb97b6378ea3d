"""A typed remote executor over SSH (paramiko), used by the Mailu installer, migration and rotation.

- The private key is held in memory only (a ``Secret`` or str); it is never written to disk.
- Host keys: ``KnownHosts`` pins expected keys (OpenSSH known_hosts lines). With ``trust_on_first_use`` a host
  without a pinned key is accepted and its key *recorded* in ``KnownHosts.recorded``, so the caller can pin it
  from then on (the sandbox and a freshly created VPS work this way; the host was created by us a moment
  earlier over an authenticated API). A key that differs from a pinned one is always refused.
- ``run`` returns exit code, stdout and stderr; with ``check`` (default) a non-zero exit raises
  ``CommandFailed`` whose text is redacted.
- Secrets never travel on a command line: ``put_file`` streams the content to ``cat`` on the remote's stdin
  (through the encrypted channel) into a temporary file created under ``umask 077``, then fixes owner and mode
  and renames it into place (atomic). ``run`` refuses any command that contains a registered secret.
- Connecting retries while the host boots (connection refused/reset, SSH banner not ready) until
  ``boot_timeout``; authentication and host-key failures are not retried.
"""

from __future__ import annotations

import hashlib
import io
import posixpath
import select
import shlex
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Literal, Protocol

import paramiko
from paramiko.hostkeys import HostKeyEntry
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_exponential

from toolkit.errors import ConfigError, RemoteError, ToolkitError
from toolkit.redact import Redactor, Secret, scrub

MAX_ERROR_OUTPUT = 2000
"""Characters of stderr/stdout kept in an error message (the tail)."""


# --- errors ----------------------------------------------------------------------------------------------

class SshError(RemoteError):
    """Base of every SSH-layer failure."""


class SshConnectError(SshError):
    """The host did not accept an SSH connection within the boot timeout."""


class SshAuthError(SshError):
    """The host refused the private key."""


class HostKeyError(SshError):
    """The host's key is unknown (and trust on first use is off) or differs from the pinned one."""


class CommandFailed(SshError):
    """A remote command exited non-zero. ``command``, ``stdout`` and ``stderr`` are already redacted."""

    def __init__(self, host: str, command: str, exit_code: int, stdout: str, stderr: str) -> None:
        self.host = host
        self.command = command
        self.exit_code = exit_code
        self.stdout = stdout
        self.stderr = stderr
        detail = (stderr or stdout).strip()[-MAX_ERROR_OUTPUT:]
        super().__init__(f"{host}: `{command}` exited with {exit_code}" + (f": {detail}" if detail else ""))


class CommandTimeout(SshError):
    """A remote command did not finish in time."""


class RemoteFileMissing(SshError):
    """A file that was expected on the host does not exist."""


class SecretInCommandError(ToolkitError):
    """A programming error: a command line would have carried a registered secret. Nothing was sent."""


# --- value types -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CommandResult:
    """Outcome of one remote command; ``command`` is redacted, outputs are as received."""

    command: str
    exit_code: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def __repr__(self) -> str:
        return f"CommandResult(command={self.command!r}, exit_code={self.exit_code})"


FileKind = Literal["file", "dir", "other"]


@dataclass(frozen=True)
class FileStat:
    """What a remote path is: kind, permission bits, owner, group and (files only) the SHA-256 of the content."""

    path: str
    kind: FileKind
    mode: int
    owner: str
    group: str
    uid: int
    gid: int
    sha256: str | None

    def owned_by(self, owner: str, group: str) -> bool:
        """Owner/group given as names or numeric ids (ids of container users have no name on the host)."""
        return owner in (self.owner, str(self.uid)) and group in (self.group, str(self.gid))


@dataclass
class KnownHosts:
    """Pinned host keys (OpenSSH known_hosts lines) and the trust-on-first-use switch.

    ``recorded`` collects the lines of keys accepted on first use, for the caller to persist.
    """

    lines: list[str] = field(default_factory=list)
    trust_on_first_use: bool = False
    recorded: list[str] = field(default_factory=list)

    def entries(self) -> list[HostKeyEntry]:
        out: list[HostKeyEntry] = []
        for line in self.lines:
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            entry = HostKeyEntry.from_line(line.strip())
            if entry is None or entry.key is None:
                raise ConfigError("known_hosts", f"{line[:60]!r} is not an OpenSSH known_hosts line")
            out.append(entry)
        return out


class RemoteExecutor(Protocol):
    """What installers need from a remote host; ``SshExecutor`` implements it, unit tests fake it."""

    @property
    def host(self) -> str: ...

    def register_secret(self, *values: Secret | str | bytes | None) -> None: ...

    def run(
        self, command: str | Sequence[str], *, stdin: bytes | None = None, check: bool = True,
        timeout: float | None = None,
    ) -> CommandResult: ...

    def put_file(
        self, path: str, content: bytes, *, mode: int, owner: str = "root", group: str | None = None,
    ) -> None: ...

    def read_file(self, path: str) -> bytes: ...

    def read_file_if_exists(self, path: str) -> bytes | None: ...

    def file_stats(self, paths: Sequence[str]) -> dict[str, FileStat | None]: ...


# --- helpers -----------------------------------------------------------------------------------------------

def load_private_key(key: Secret | str) -> paramiko.PKey:
    """Parse an unencrypted private key (OpenSSH or PEM; Ed25519, RSA or ECDSA) from memory."""
    text = key.reveal() if isinstance(key, Secret) else key
    for key_class in (paramiko.Ed25519Key, paramiko.RSAKey, paramiko.ECDSAKey):
        try:
            return key_class.from_private_key(io.StringIO(text))
        except (paramiko.SSHException, ValueError, TypeError, IndexError):
            continue
    raise ConfigError("private_key", "is not an unencrypted OpenSSH/PEM private key (ed25519, rsa or ecdsa)")


class _HostKeyPolicy(paramiko.MissingHostKeyPolicy):
    def __init__(self, known: KnownHosts) -> None:
        self._known = known

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        if not self._known.trust_on_first_use:
            raise HostKeyError(
                f"{hostname}: host key {key.get_name()} {key.fingerprint} is not pinned and trust on first use is off"
            )
        client.get_host_keys().add(hostname, key.get_name(), key)
        self._known.recorded.append(f"{hostname} {key.get_name()} {key.get_base64()}")


def _transient_connect_error(exc: BaseException) -> bool:
    if isinstance(exc, paramiko.BadHostKeyException | paramiko.AuthenticationException | HostKeyError):
        return False
    return isinstance(exc, OSError | EOFError | paramiko.SSHException)


def _stat_script(paths: Sequence[str]) -> str:
    parts = []
    for path in paths:
        q = shlex.quote(path)
        parts.append(
            f"if [ -e {q} ] || [ -L {q} ]; then "
            f"printf '%s|' \"$(stat -c '%a|%U|%G|%u|%g|%F' -- {q})\"; "
            f"if [ -f {q} ] && [ ! -L {q} ]; then sha256sum -- {q} | cut -d' ' -f1; else echo -; fi; "
            "else echo MISSING; fi"
        )
    return "; ".join(parts)


def _parse_stat_line(path: str, line: str) -> FileStat | None:
    if line == "MISSING":
        return None
    fields = line.split("|")
    if len(fields) != 7:
        raise SshError(f"unexpected stat output for {path}: {line[:200]!r}")
    mode, owner, group, uid, gid, kind_text, digest = fields
    kind: FileKind = "other"
    if kind_text in ("regular file", "regular empty file"):
        kind = "file"
    elif kind_text == "directory":
        kind = "dir"
    return FileStat(path=path, kind=kind, mode=int(mode, 8), owner=owner, group=group, uid=int(uid),
                    gid=int(gid), sha256=None if digest == "-" else digest)


def sha256_hex(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


# --- the executor ------------------------------------------------------------------------------------------

class SshExecutor:
    """One SSH connection to one host, opened lazily and reopened after a drop (e.g. a reboot)."""

    def __init__(
        self,
        host: str,
        private_key: Secret | str,
        *,
        port: int = 22,
        user: str = "root",
        known_hosts: KnownHosts | None = None,
        connect_timeout: float = 10.0,
        boot_timeout: float = 120.0,
        command_timeout: float = 900.0,
    ) -> None:
        if not 1 <= port <= 65535:
            raise ConfigError("port", f"{port} is not a TCP port")
        if not host:
            raise ConfigError("host", "must be a host name or address")
        self._host = host
        self._port = port
        self._user = user
        self._pkey = load_private_key(private_key)
        self._known = known_hosts if known_hosts is not None else KnownHosts()
        self._connect_timeout = connect_timeout
        self._boot_timeout = boot_timeout
        self._command_timeout = command_timeout
        self._client: paramiko.SSHClient | None = None
        self._redactor = Redactor()
        self._redactor.register(private_key if isinstance(private_key, Secret) else Secret(private_key))

    def __repr__(self) -> str:
        return f"SshExecutor({self._user}@{self._host}:{self._port})"

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        return self._port

    @property
    def known_hosts(self) -> KnownHosts:
        return self._known

    # -- secrets --

    def register_secret(self, *values: Secret | str | bytes | None) -> None:
        """Values that must never appear on a command line and are scrubbed from error texts."""
        for value in values:
            if isinstance(value, bytes):
                value = value.decode("utf-8", errors="replace")
            self._redactor.register(value)

    def scrub(self, text: str) -> str:
        return scrub(self._redactor.scrub(text))

    # -- connection --

    def connect(self) -> None:
        if self._client is not None and self._active():
            return
        self.close()
        retrying = Retrying(
            stop=stop_after_delay(self._boot_timeout),
            wait=wait_exponential(multiplier=0.1, min=0.1, max=3.0),
            retry=retry_if_exception(_transient_connect_error),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    self._client = self._connect_once()
        except paramiko.BadHostKeyException as exc:
            raise HostKeyError(
                f"{self._host}:{self._port}: host key {exc.key.get_name()} {exc.key.fingerprint} differs from "
                f"the pinned one ({exc.expected_key.fingerprint}); refusing to connect"
            ) from None
        except paramiko.AuthenticationException as exc:
            raise SshAuthError(f"{self._user}@{self._host}:{self._port} refused the private key: {exc}") from None
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise SshConnectError(
                f"{self._host}:{self._port}: no SSH connection within {self._boot_timeout:.0f} s "
                f"({type(exc).__name__}: {self.scrub(str(exc))})"
            ) from None

    def _connect_once(self) -> paramiko.SSHClient:
        client = paramiko.SSHClient()
        for entry in self._known.entries():
            for name in entry.hostnames:
                client.get_host_keys().add(name, entry.key.get_name(), entry.key)
        client.set_missing_host_key_policy(_HostKeyPolicy(self._known))
        try:
            client.connect(
                self._host, port=self._port, username=self._user, pkey=self._pkey,
                allow_agent=False, look_for_keys=False, timeout=self._connect_timeout,
                banner_timeout=self._connect_timeout, auth_timeout=self._connect_timeout,
            )
        except BaseException:
            client.close()
            raise
        return client

    def _active(self) -> bool:
        transport = self._client.get_transport() if self._client is not None else None
        return transport is not None and transport.is_active()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> SshExecutor:
        self.connect()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- commands --

    def run(
        self, command: str | Sequence[str], *, stdin: bytes | None = None, check: bool = True,
        timeout: float | None = None,
    ) -> CommandResult:
        """Run one command (a shell string, or an argv that is quoted for you)."""
        text = command if isinstance(command, str) else shlex.join(command)
        if self._redactor.scrub(text) != text:
            raise SecretInCommandError("refusing to send a command line that contains a secret")
        shown = self.scrub(text)
        exit_code, out, err = self._exec(text, stdin, timeout)
        stdout = out.decode("utf-8", errors="replace")
        stderr = err.decode("utf-8", errors="replace")
        if check and exit_code != 0:
            raise CommandFailed(self._host, shown, exit_code, self.scrub(stdout), self.scrub(stderr))
        return CommandResult(command=shown, exit_code=exit_code, stdout=stdout, stderr=stderr)

    def _exec(self, command: str, stdin: bytes | None, timeout: float | None) -> tuple[int, bytes, bytes]:
        limit = self._command_timeout if timeout is None else timeout
        channel = self.open_channel()
        try:
            channel.exec_command(command)
            if stdin:
                channel.sendall(stdin)
            channel.shutdown_write()
            out, err = bytearray(), bytearray()
            deadline = time.monotonic() + limit
            while True:
                while channel.recv_ready():
                    out += channel.recv(65536)
                while channel.recv_stderr_ready():
                    err += channel.recv_stderr(65536)
                # The exit status may arrive before the last output: finish only once the remote side sent EOF
                # (all output is in the buffers) and the exit status, and the buffers are drained.
                eof = bool(channel.eof_received) or channel.closed
                if eof and channel.exit_status_ready() and not channel.recv_ready() \
                        and not channel.recv_stderr_ready():
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise CommandTimeout(f"{self._host}: `{self.scrub(command)}` still running after {limit:.0f} s")
                if eof:
                    channel.status_event.wait(min(remaining, 1.0))
                else:
                    select.select([channel], [], [], min(remaining, 1.0))
            return channel.recv_exit_status(), bytes(out), bytes(err)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise SshConnectError(f"{self._host}: connection failed during `{self.scrub(command)}`: {exc}") from None
        finally:
            channel.close()

    def open_channel(self) -> paramiko.Channel:
        """A raw session channel (for streaming, e.g. a tar pipe between two hosts); a connection that died since
        the last command (reboot) is reopened once. Callers own the channel and must close it."""
        for attempt in (1, 2):
            self.connect()
            assert self._client is not None
            transport = self._client.get_transport()
            try:
                if transport is None:
                    raise paramiko.SSHException("no transport")
                return transport.open_session()
            except (OSError, EOFError, paramiko.SSHException) as exc:
                self.close()
                if attempt == 2:
                    raise SshConnectError(f"{self._host}: cannot open a session: {exc}") from None
        raise AssertionError("unreachable")

    # -- files --

    def put_file(
        self, path: str, content: bytes, *, mode: int, owner: str = "root", group: str | None = None,
    ) -> None:
        """Write ``content`` to ``path`` atomically with the given mode and owner; content goes via stdin."""
        if not posixpath.isabs(path):
            raise ConfigError("path", f"{path!r} must be absolute")
        directory = posixpath.dirname(path)
        target = shlex.quote(path)
        script = (
            "set -e; umask 077; "
            f"tmp=$(mktemp {shlex.quote(directory + '/.pm-upload.XXXXXX')}); "
            "trap 'rm -f \"$tmp\"' EXIT; "
            "cat > \"$tmp\"; "
            f"chown {shlex.quote(owner)}:{shlex.quote(group or owner)} \"$tmp\"; "
            f"chmod {mode:o} \"$tmp\"; "
            f"mv -f \"$tmp\" {target}; trap - EXIT"
        )
        self.run(script, stdin=content)

    def read_file(self, path: str) -> bytes:
        content = self.read_file_if_exists(path)
        if content is None:
            raise RemoteFileMissing(f"{self._host}: {path} does not exist")
        return content

    def read_file_if_exists(self, path: str) -> bytes | None:
        q = shlex.quote(path)
        code, out, err = self._exec(f"if [ -f {q} ]; then cat -- {q}; else exit 3; fi", None, None)
        if code == 3:
            return None
        if code != 0:
            raise CommandFailed(self._host, f"cat -- {q}", code, "", self.scrub(err.decode(errors="replace")))
        return out

    def file_stats(self, paths: Sequence[str]) -> dict[str, FileStat | None]:
        """Kind, mode, owner, group and SHA-256 of each path (None if absent), in one round trip."""
        if not paths:
            return {}
        result = self.run(_stat_script(paths))
        lines = result.stdout.splitlines()
        if len(lines) != len(paths):
            raise SshError(f"{self._host}: stat returned {len(lines)} lines for {len(paths)} paths")
        return {path: _parse_stat_line(path, line) for path, line in zip(paths, lines, strict=True)}


def quote_all(words: Iterable[str]) -> str:
    return " ".join(shlex.quote(w) for w in words)
