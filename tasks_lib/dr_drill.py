"""`invoke dr.drill`: the quarterly restore drill (logic in vault.backup.drill).

Restores the latest backup (or --backup) into a scratch single-node OpenBao raft cluster in a temporary
directory on free loopback ports, verifies every secret against the checksums recorded at backup time, times
each phase, prints a report, and always stops and deletes the scratch cluster. Exit code 0 only on success.
Needs the source cluster's unseal keys and a credential of the source cluster to read the restored data
($PM_RESTORE_VERIFY_ROLE_ID + $PM_RESTORE_VERIFY_SECRET_ID, an AppRole that logs in inside the scratch Vault; else
a token that existed when the backup was taken, $PM_RESTORE_VERIFY_TOKEN or $VAULT_TOKEN:
``vault.backup.verify_login``); see `invoke vault.restore --help` for key and destination settings.
"""

from __future__ import annotations

import json as jsonlib
from pathlib import Path

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task
from rich.table import Table

from tasks_lib.day2 import audited, connection_env
from tasks_lib.vault import (
    DEST_HELP,
    KEY_HELP,
    S3_HELP,
    backup_key,
    console,
    fail,
    reporting,
    source_unseal_keys,
    store_for,
)
from toolkit.errors import ToolkitError
from vault.backup import latest_backup
from vault.backup.drill import DrillReport, run_drill
from vault.backup.restore import UNSEAL_KEYS_ENV, UNSEAL_KEYS_FILE_ENV
from vault.backup.verify_login import VerifyLogin


@task(help={
    "backup": "backup name to drill (default: the latest)",
    "dest": DEST_HELP, "s3_endpoint": S3_HELP, "key_file": KEY_HELP,
    "unseal_keys_file": f"the SOURCE cluster's unseal keys (default ${UNSEAL_KEYS_FILE_ENV} / ${UNSEAL_KEYS_ENV}, "
                        "the sandbox's, else a hidden prompt)",
    "report": "also write the report as JSON to this file (paths and counts only, never secret data)",
})
def drill(c: Context, backup: str = "", dest: str = "", s3_endpoint: str = "", key_file: str = "",
          unseal_keys_file: str = "", report: str = "") -> None:
    """Restore the latest backup into a scratch Vault, verify every secret's checksum, time it, report."""
    env = connection_env()
    try:
        verify = VerifyLogin.from_env(env)
    except ToolkitError as exc:
        raise Exit(f"dr.drill: {exc}", code=2) from None
    try:
        with audited("dr.drill", env=env) as details:
            key = backup_key(key_file, env)
            store = store_for(dest, s3_endpoint, env)
            backup = backup or latest_backup(store).name  # a backup must exist before anyone is asked for keys
            details["backup"] = backup
            keys = source_unseal_keys(unseal_keys_file, env)
            with reporting() as rep:
                result = run_drill(store, key, keys, verify, backup=backup,
                                   step=rep.step, tick=rep.tick)
            details.update(outcome="ok" if result.ok else "failed", secrets_checked=result.secrets.checked,
                           mismatched=len(result.secrets.mismatched), missing=len(result.secrets.missing))
    except ToolkitError as exc:
        raise fail(exc) from None
    _print(result, store.description)
    if report:
        Path(report).write_text(jsonlib.dumps(_as_dict(result), indent=2) + "\n")
    if not result.ok:
        raise Exit(code=1)


def _as_dict(result: DrillReport) -> dict[str, object]:
    return {
        "ok": result.ok, "backup": result.backup, "backup_created": result.backup_created,
        "backup_age_hours": round(result.backup_age_hours, 2), "secrets_checked": result.secrets.checked,
        "secrets_matched": result.secrets.matched, "mismatched": result.secrets.mismatched,
        "missing": result.secrets.missing, "canaries_checked": result.canaries_checked,
        "timings_seconds": {k: round(v, 3) for k, v in result.timings.items()},
        "total_seconds": round(result.total_seconds, 3),
    }


def _print(result: DrillReport, where: str) -> None:
    verdict = "[green]PASSED[/]" if result.ok else "[red]FAILED[/]"
    table = Table(title=f"DR drill {verdict}: {result.backup} from {where}", show_header=False)
    table.add_row("backup age", f"{result.backup_age_hours:.1f} h (taken {result.backup_created})")
    table.add_row("secrets verified", f"{result.secrets.matched:,} / {result.secrets.checked:,}")
    table.add_row("canaries", str(result.canaries_checked))
    if result.secrets.mismatched or result.secrets.missing:
        table.add_row("mismatched", ", ".join(result.secrets.mismatched[:20]) or "-")
        table.add_row("missing", ", ".join(result.secrets.missing[:20]) or "-")
    for phase, seconds in result.timings.items():
        table.add_row(f"  {phase}", f"{seconds:.2f} s")
    table.add_row("total", f"{result.total_seconds:.1f} s")
    console.print(table)
