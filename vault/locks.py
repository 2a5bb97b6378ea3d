"""A lock record in Vault for jobs that must not run twice at once: the scheduled `rotate.due`, the daily backup,
the quarterly drill (``held(vault, "rotate-due")``).

The record is KV v2 ``vps/_fleet/locks/<name>`` (``_fleet`` cannot be a tenant id; tenants' policies reach only
their own folder; the ``system`` policy may create and update it, never delete it, so a lock is released by writing
a new version). Taking it is one check-and-set write over the version just read: of two jobs that read a free lock
at the same moment, exactly one write succeeds, the other gets ``LockHeld``. A lock whose holder died (a killed
job, a lost runner) expires after its ``ttl`` and the next run takes it over: a missed or crashed run never blocks
the schedule for longer than that. ``held`` renews the lease every third of its ``ttl`` while the block runs, so a
short ``ttl`` (10 minutes) serves hour-long jobs and a killed job's lock is free 10 minutes later. Renewing and
releasing check that the record is still ours (same version): a holder that was taken over (its renewals failed
for a whole ``ttl``) learns it (``LockLost``) instead of freeing the new holder's lock.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from toolkit.clock import SYSTEM_CLOCK, Clock
from toolkit.errors import ConfigError, ToolkitError
from vault import kv, paths
from vault.client import VaultClient
from vault.errors import CasConflict, SecretNotFound

ROOT = "_fleet/locks"
DEFAULT_TTL = dt.timedelta(minutes=10)
"""How long a lock outlives a holder that stopped renewing it (killed, lost its runner)."""
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")


class LockHeld(ToolkitError):
    """Another run holds the lock (it names who, since when and until when)."""


class LockLost(ToolkitError):
    """The lock was taken over while we held it (we ran past its ttl)."""


@dataclass(frozen=True)
class Lease:
    name: str
    holder: str
    version: int
    expires_at: dt.datetime


def lock_path(name: str) -> paths.SecretPath:
    if not _NAME.match(name):
        raise ConfigError("lock", f"{name!r} is not a lock name (lower-case letters, digits, hyphens)")
    return paths.SecretPath(paths.VPS_MOUNT, f"{ROOT}/{name}")


def default_holder() -> str:
    """Who holds it, for the message another run prints: host, process, the CI run when there is one."""
    run = os.environ.get("GITHUB_RUN_ID")
    where = f"github run {run}" if run else f"{socket.gethostname()} pid {os.getpid()}"
    return f"{where} ({secrets.token_hex(3)})"


def _stamp(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat(timespec="seconds")


def acquire(vault: VaultClient, name: str, *, holder: str = "", ttl: dt.timedelta = DEFAULT_TTL,
            clock: Clock = SYSTEM_CLOCK) -> Lease:
    """Take the lock or raise ``LockHeld``; an expired or released lock is taken over."""
    path = lock_path(name)
    holder = holder or default_holder()
    now = clock.now()
    try:
        current = kv.read(vault, path)
    except SecretNotFound:
        version = 0
    else:
        data = current.data
        expires = dt.datetime.fromisoformat(str(data.get("expires_at") or "1970-01-01T00:00:00+00:00"))
        if not data.get("released") and expires > now:
            raise LockHeld(f"{name} is running elsewhere: held by {data.get('holder')} since "
                           f"{data.get('acquired_at')} (expires {_stamp(expires)}); nothing was done")
        version = current.version
    expires_at = now + ttl
    record = {"holder": holder, "acquired_at": _stamp(now), "expires_at": _stamp(expires_at), "released": False}
    try:
        written = kv.write(vault, path, record, cas=version)
    except CasConflict:
        raise LockHeld(f"{name} was just taken by another run; nothing was done") from None
    return Lease(name, holder, written, expires_at)


def _rewrite(vault: VaultClient, lease: Lease, change: dict[str, object]) -> int:
    """Write ``change`` over our own record (same version and holder), else ``LockLost``."""
    path = lock_path(lease.name)
    try:
        current = kv.read(vault, path)
    except SecretNotFound:
        raise LockLost(f"{lease.name}: the lock record is gone") from None
    if current.version != lease.version or current.data.get("holder") != lease.holder:
        raise LockLost(f"{lease.name} was taken over by {current.data.get('holder')} after our lease expired "
                       f"({_stamp(lease.expires_at)}): it was not renewed for a whole ttl")
    try:
        return kv.write(vault, path, {**current.data, **change}, cas=lease.version)
    except CasConflict:
        raise LockLost(f"{lease.name} was taken over meanwhile") from None


def renew(vault: VaultClient, lease: Lease, *, ttl: dt.timedelta = DEFAULT_TTL, clock: Clock = SYSTEM_CLOCK) -> Lease:
    """Push our lease's end to ``now + ttl``; ``LockLost`` when it is no longer ours."""
    expires_at = clock.now() + ttl
    version = _rewrite(vault, lease, {"expires_at": _stamp(expires_at)})
    return Lease(lease.name, lease.holder, version, expires_at)


def release(vault: VaultClient, lease: Lease, *, clock: Clock = SYSTEM_CLOCK) -> None:
    _rewrite(vault, lease, {"released": True, "released_at": _stamp(clock.now())})


class _Renewer(threading.Thread):
    """Renews a lease every third of its ttl until stopped; keeps the first failure for ``held`` to raise."""

    def __init__(self, vault: VaultClient, lease: Lease, ttl: dt.timedelta, clock: Clock) -> None:
        super().__init__(name=f"lock-{lease.name}", daemon=True)
        self.vault, self.lease, self.ttl, self.clock = vault, lease, ttl, clock
        self.error: ToolkitError | None = None
        self._stopping = threading.Event()
        self._mutex = threading.Lock()

    def run(self) -> None:
        while not self._stopping.wait(self.ttl.total_seconds() / 3):
            with self._mutex:
                if self._stopping.is_set():
                    return
                try:
                    self.lease = renew(self.vault, self.lease, ttl=self.ttl, clock=self.clock)
                except LockLost as exc:
                    self.error = exc
                    return
                except ToolkitError:
                    continue  # Vault unreachable for a moment: the lease still runs, try again next beat

    def stop(self) -> Lease:
        with self._mutex:
            self._stopping.set()
        self.join()
        return self.lease


@contextmanager
def held(vault: VaultClient, name: str, *, holder: str = "", ttl: dt.timedelta = DEFAULT_TTL,
         clock: Clock = SYSTEM_CLOCK) -> Iterator[Lease]:
    """Hold ``name`` for the block, renewed while it runs; released however the block ends (a killed process:
    ``ttl`` after its last renewal)."""
    lease = acquire(vault, name, holder=holder, ttl=ttl, clock=clock)
    renewer = _Renewer(vault, lease, ttl, clock)
    renewer.start()
    try:
        yield lease
    finally:
        lease = renewer.stop()
        if renewer.error is not None:
            raise renewer.error
        release(vault, lease, clock=clock)
