"""Where every task (and `pulumi` run by a task) finds Vault, DNS, Hostwinds, the Pulumi backend and the backups.

One rule, the same for every task. Sources, first wins:

1. explicit task options (``--dest``, ``--target``, ...), applied by the task on top of what this returns;
2. the process environment;
3. the env file: ``$PM_ENV_FILE``, else the sandbox's ``.sandbox/env`` (``$PM_SANDBOX_DIR/env``), written by
   ``invoke sandbox.up``.

The env file is a whole profile, never mixed in key by key: it is read only when the process environment names no
Vault (neither ``VAULT_ADDR`` nor ``VAULT_ADDRS``). A shell pointed at a production Vault therefore never picks up a
sandbox credential, and a shell that sourced the file gets what the file says: the same results either way, since
the file carries every setting a task reads (connection, backups, unseal keys of the sandbox).
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from toolkit.errors import ConfigError
from toolkit.private_files import write_private

REPO_ROOT = Path(__file__).resolve().parent.parent
ENV_FILE_VARIABLE = "PM_ENV_FILE"
PROCESS_ENVIRONMENT = "process environment"


def default_env_file(environ: Mapping[str, str]) -> Path:
    explicit = environ.get(ENV_FILE_VARIABLE)
    if explicit:
        return Path(explicit)
    return Path(environ.get("PM_SANDBOX_DIR") or REPO_ROOT / ".sandbox") / "env"


def read_env_file(path: Path) -> dict[str, str]:
    """``export KEY=value`` lines (shell-quoted values) as a mapping; other lines are ignored."""
    values: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line.startswith("export "):
            continue
        key, _, raw = line[len("export "):].partition("=")
        try:
            words = shlex.split(raw)
        except ValueError as exc:
            raise ConfigError(ENV_FILE_VARIABLE, f"{path}:{number}: {exc}: fix the quoting of {key}") from None
        values[key.strip()] = words[0] if words else ""
    return values


def write_env_file(path: Path, values: Mapping[str, str]) -> None:
    """The format ``read_env_file`` reads and a shell can ``source``; mode 0600 (it holds tokens)."""
    write_private(path, "".join(f"export {key}={shlex.quote(value)}\n" for key, value in sorted(values.items())))


@dataclass(frozen=True)
class Connection:
    """The settings a task runs with, and where they came from."""

    env: dict[str, str]
    source: str
    """``process environment`` or ``env file <path>``."""

    def get(self, key: str, default: str = "") -> str:
        return self.env.get(key, default)

    @property
    def vault_addresses(self) -> tuple[str, ...]:
        raw = self.env.get("VAULT_ADDRS") or self.env.get("VAULT_ADDR") or ""
        return tuple(a.strip() for a in raw.split(",") if a.strip())

    def endpoints(self) -> dict[str, str]:
        """What a task will touch (addresses and locations only, never a credential)."""
        dns = self.env.get("PM_DNS_SERVER", "")
        if dns and self.env.get("PM_DNS_PORT"):
            dns = f"{dns} port {self.env['PM_DNS_PORT']}"
        if dns and self.env.get("PM_DNS_ZONE"):
            dns = f"{dns}, zone {self.env['PM_DNS_ZONE']}"
        return {
            "settings from": self.source,
            "Vault": ", ".join(self.vault_addresses) or "(not set: VAULT_ADDR)",
            "DNS primary": dns or "(from each stack file)",
            "Hostwinds API": self.env.get("HOSTWINDS_API_URL") or "(Hostwinds production API)",
            "Pulumi backend": self.env.get("PULUMI_BACKEND_URL") or "(not set: PULUMI_BACKEND_URL)",
            "backups": self.env.get("PM_BACKUP_DEST") or "(not set: PM_BACKUP_DEST)",
        }


def resolve(environ: Mapping[str, str] | None = None, env_file: Path | None = None) -> Connection:
    """The connection settings by the rule above."""
    process = dict(os.environ if environ is None else environ)
    if process.get("VAULT_ADDRS") or process.get("VAULT_ADDR"):
        return Connection(process, PROCESS_ENVIRONMENT)
    path = env_file or default_env_file(process)
    if not path.is_file():
        return Connection(process, PROCESS_ENVIRONMENT)
    return Connection({**read_env_file(path), **process}, f"env file {path}")
