"""What the handover tasks (`ssh.download|unwrap`, `smtp.credentials|unwrap`) share: one audit event per run
whatever happens, secrets read from a hidden prompt or stdin (never from the command line), a token printed bare.

Audit events name who, which secret path and version and the token accessor; never a token or a secret (the
fields are also filtered by ``fleet.audit``).
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleet.audit import AuditLog, audit_path
from tasks_lib.day2 import REPO, fail
from toolkit import stack_files, validate
from toolkit.errors import ConfigError, ToolkitError, ValidationError
from toolkit.redact import REDACTOR, Secret


@dataclass
class Audited:
    actor: str
    """Who runs the task (``PM_AUDIT_ACTOR``, else the local user): the audit event's ``actor``."""
    details: dict[str, Any] = field(default_factory=dict)


@contextmanager
def audited(event: str, tenant: str, audit_log: str, env: Mapping[str, str]) -> Iterator[Audited]:
    """Yields the run's details for the task to fill; writes one audit event however the run ends (``ok``,
    ``refused`` for a toolkit error, which becomes exit 2 with its message, ``failed`` otherwise)."""
    audit = AuditLog(audit_path(audit_log, env=env))
    run = Audited(audit.actor)
    try:
        yield run
    except ToolkitError as exc:
        audit.event(event, tenant=tenant, outcome="refused", error=f"{type(exc).__name__}: {exc}", **run.details)
        raise fail(exc) from None
    except BaseException as exc:
        audit.event(event, tenant=tenant, outcome="failed", error=type(exc).__name__, **run.details)
        raise
    audit.event(event, tenant=tenant, outcome=str(run.details.pop("outcome", "ok")), **run.details)


def read_secret(what: str, *, register: bool = True) -> Secret:
    """A hidden prompt on a terminal, else one line of stdin (``echo "$TOKEN" | invoke ...``). ``register`` adds
    the value to the redactor (not for one-time codes: six digits would be scrubbed from every later line)."""
    value = (getpass.getpass(f"{what}: ") if sys.stdin.isatty() else sys.stdin.readline()).strip()
    if not value:
        raise ValidationError(what, "nothing was given (type it at the prompt, or pipe it on stdin)")
    secret = Secret(value)
    if register:
        REDACTOR.register(secret)
    return secret


def print_token(token: Secret) -> None:
    """The token alone on its line (deliberately not through the redacting console, which would hide it)."""
    print(token.reveal(), flush=True)


def require_declared(tenant: str, work_dir: str) -> None:
    """The fleet declares the tenant: its stack file is in ``<work_dir>/stacks`` (default: this repository)."""
    project = Path(work_dir).resolve() if work_dir else REPO
    config = stack_files.load(project / "stacks", validate.tenant_id(tenant))
    if config.tenant_id != tenant:
        raise ConfigError("tenant", f"the stack file of {tenant!r} declares tenant_id {config.tenant_id!r}")
