"""The journal of a VPS migration: which steps are done, kept where a crash of the operator's machine cannot lose it.

One KV v2 secret per tenant, ``vps/<tenant>/migration`` (no secret in it: public facts and timings only). Every
step completion is a check-and-set write on top of the version read before, so two runners can never both advance
the same migration, and the KV version history is the migration's audit trail (the system policy cannot delete it).

``Journal.data`` layout::

    id, tenant, reason, state ("running" | "done"), created_at,
    plan: {old_serviceid, old_ip, old_generation, new_generation, old_selector, new_selector, burned_selectors,
           old_smtp_generation, new_smtp_generation, old_secret_key_generation, new_secret_key_generation,
           copy_from, old_secret_versions}
    steps: {<step>: {at, seconds, ...details}}
    runs: [{host, pid, started_at}]          (one entry per invocation: resumes are visible)
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from toolkit import validate
from toolkit.errors import ToolkitError
from vault import kv, paths
from vault.client import VaultClient
from vault.errors import CasConflict, SecretNotFound

STEPS: tuple[str, ...] = ("started", "intent_recorded", "deployed", "verified", "cleaned_up", "done")
"""Steps of a migration, in order. Each is recorded once it is complete; a re-run continues after the last one."""

CRASH_ENV = "PM_DR_CRASH_AFTER"
"""Fault-injection hook for tests and drills: ``PM_DR_CRASH_AFTER=<step>`` makes the task exit hard
(``os._exit``, no cleanup, exit code ``CRASH_EXIT_CODE``) right after that step is recorded in the journal."""
CRASH_EXIT_CODE = 97


class MigrationError(ToolkitError):
    """A migration step failed; re-running the task continues from the last completed step."""


class MigrationConflict(MigrationError):
    """Another runner holds or changed the journal, or the request contradicts the migration in progress."""


def journal_path(tenant: str) -> paths.SecretPath:
    return paths.SecretPath(paths.VPS_MOUNT, f"{validate.tenant_id(tenant)}/migration")


@dataclass
class Journal:
    data: dict[str, Any]
    version: int = 0
    """KV version the data was read at (0 = not written yet); the next write is check-and-set on it."""

    @property
    def running(self) -> bool:
        return self.data.get("state") == "running"

    @property
    def steps(self) -> dict[str, Any]:
        steps: dict[str, Any] = self.data.setdefault("steps", {})
        return steps

    def done(self, step: str) -> bool:
        return step in self.steps

    def next_step(self) -> str | None:
        return next((s for s in STEPS if s not in self.steps), None)

    @property
    def plan(self) -> dict[str, Any]:
        plan: dict[str, Any] = self.data.get("plan") or {}
        return plan


class JournalStore(Protocol):
    def load(self, tenant: str) -> Journal | None: ...

    def save(self, tenant: str, journal: Journal) -> None:
        """Write ``journal.data`` as the version after ``journal.version`` (CAS) and bump ``journal.version``."""
        ...


@dataclass
class VaultJournalStore:
    client: VaultClient

    def load(self, tenant: str) -> Journal | None:
        try:
            record = kv.read(self.client, journal_path(tenant))
        except SecretNotFound:
            return None
        return Journal(dict(record.data), record.version)

    def save(self, tenant: str, journal: Journal) -> None:
        path = journal_path(tenant)
        try:
            journal.version = kv.write(self.client, path, journal.data, cas=journal.version)
        except CasConflict as exc:
            raise MigrationConflict(f"the migration journal {path} was changed by another runner ({exc}); "
                                    "re-run to continue from its state") from None


@dataclass
class MemoryJournalStore:
    """In-memory store with the same CAS semantics (unit tests, dry runs)."""

    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def load(self, tenant: str) -> Journal | None:
        versions = self.records.get(tenant)
        if not versions:
            return None
        return Journal(_copy(versions[-1]), len(versions))

    def save(self, tenant: str, journal: Journal) -> None:
        versions = self.records.setdefault(tenant, [])
        if len(versions) != journal.version:
            raise MigrationConflict(f"journal of {tenant} is at version {len(versions)}, not {journal.version}")
        versions.append(_copy(journal.data))
        journal.version = len(versions)


def _copy(data: Mapping[str, Any]) -> dict[str, Any]:
    copied: dict[str, Any] = json.loads(json.dumps(data))
    return copied


def crash_hook(step: str, env: Mapping[str, str] | None = None) -> None:
    """Exit hard right after ``step`` when the fault-injection variable names it (see ``CRASH_ENV``)."""
    if (env if env is not None else os.environ).get(CRASH_ENV) == step:
        os._exit(CRASH_EXIT_CODE)
