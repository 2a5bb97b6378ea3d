"""Audit events of day-2 operations: one JSON object per line, appended to a log file (never a secret).

The path is ``--audit-log``, else ``$PM_AUDIT_LOG``, else ``$XDG_STATE_HOME/pm-mail-infra/audit.jsonl``
(``~/.local/state/...``). Each line:
``{"ts", "event", "tenant", "outcome", "actor", "details"}``; ``details`` goes through the redactor (and a
key-name filter) so a secret that slipped into a message is scrubbed. Appends are serialized by a lock and
written with one ``write`` call on an ``O_APPEND`` descriptor, so concurrent workers never interleave lines.
Vault's own audit device records the secret accesses themselves.
"""

from __future__ import annotations

import getpass
import json
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fleet.clock import Clock, SystemClock, iso
from toolkit.redact import SECRET_FIELD_NAMES, scrub


def _forbidden(key: str) -> bool:
    """Field names that hold secrets (e.g. ``password``, ``admin_token``), not names that merely mention one
    (``secret_versions_after`` is a list of version numbers)."""
    name = key.lower()
    return name in SECRET_FIELD_NAMES or name.endswith(("_password", "_token", "_private_key", "_secret"))


def audit_path(explicit: str = "", env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if explicit or env.get("PM_AUDIT_LOG"):
        return Path(explicit or env["PM_AUDIT_LOG"])
    state = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "pm-mail-infra" / "audit.jsonl"


def _clean(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): ("[withheld]" if _forbidden(str(k)) else _clean(v))
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, str):
        return scrub(value)
    return value


class AuditLog:
    def __init__(self, path: Path, clock: Clock | None = None, actor: str = "") -> None:
        self.path = path
        self._clock = clock or SystemClock()
        self._lock = threading.Lock()
        self.actor = actor or os.environ.get("PM_AUDIT_ACTOR") or _user()

    def event(self, event: str, *, tenant: str, outcome: str, **details: Any) -> dict[str, Any]:
        record = {"ts": iso(self._clock.now()), "event": event, "tenant": tenant, "outcome": outcome,
                  "actor": self.actor, "details": _clean(details)}
        line = (json.dumps(record, sort_keys=True, default=str) + "\n").encode()
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
        return record

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return f"uid:{os.getuid()}"
