"""`invoke vault.backup|restore|backup-status`: encrypted raft snapshots of Vault (logic in vault.backup).

Connection settings come from the environment, read by the one Vault client (``vault.config``): VAULT_ADDRS (or
VAULT_ADDR), VAULT_TOKEN or AppRole, VAULT_CACERT; when neither address is set, the sandbox's .sandbox/env is
read. Backup settings: PM_BACKUP_DEST (directory or s3://bucket/prefix), PM_BACKUP_S3_ENDPOINT, PM_BACKUP_KEY_FILE
or PM_BACKUP_KEY (base64 of 32 bytes).
"""

from __future__ import annotations

import getpass
import json as jsonlib
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from tasks_lib.day2 import audited, connection_env
from toolkit import connection
from toolkit.errors import ConfigError, ToolkitError
from toolkit.private_files import write_private
from toolkit.redact import REDACTOR, Secret, scrub
from vault.backup import (
    BackupKey,
    BackupStore,
    assess,
    create_backup,
    latest_backup,
    list_backups,
    load_unseal_keys,
    open_store,
    prune,
    restore_backup,
)
from vault.backup.backup import incomplete_backups
from vault.backup.errors import BackupKeyError
from vault.backup.restore import UNSEAL_KEYS_ENV, UNSEAL_KEYS_FILE_ENV
from vault.backup.verify_login import VerifyLogin
from vault.client import VaultClient
from vault.config import VaultConfig, parse_addresses

console = Console(log_path=False)

DEST_HELP = "backup destination: a directory or s3://bucket/prefix (default: $PM_BACKUP_DEST; the sandbox sets one)"
S3_HELP = "S3-compatible endpoint URL (default: $PM_BACKUP_S3_ENDPOINT; AWS when unset)"
KEY_HELP = "file holding the backup key (default: $PM_BACKUP_KEY_FILE, else $PM_BACKUP_KEY base64)"


# ----------------------------------------------------------------------------------------------- helpers
def backup_key(key_file: str, env: Mapping[str, str]) -> BackupKey:
    try:
        return BackupKey.load(key_file or None, env)
    except BackupKeyError as exc:
        raise BackupKeyError("backup key", f"{exc.problem}. The sandbox makes one (`invoke sandbox.up` writes "
                             "PM_BACKUP_KEY_FILE into .sandbox/env); in production keep 32 random bytes, base64, "
                             "in a secret store and export PM_BACKUP_KEY_FILE") from None


def store_for(dest: str, s3_endpoint: str, env: Mapping[str, str]) -> BackupStore:
    target = dest or env.get("PM_BACKUP_DEST")
    if not target:
        raise ConfigError("backup destination", "none given: pass --dest, or set PM_BACKUP_DEST (a directory or "
                          "s3://bucket/prefix); `invoke sandbox.up` sets one for the sandbox")
    return open_store(target, s3_endpoint=s3_endpoint or env.get("PM_BACKUP_S3_ENDPOINT") or None)


def source_unseal_keys(path: str, env: Mapping[str, str]) -> list[str]:
    """--unseal-keys-file, the environment (the sandbox's env file names its init file), or a hidden prompt."""
    if path or env.get(UNSEAL_KEYS_FILE_ENV) or env.get(UNSEAL_KEYS_ENV):
        return load_unseal_keys(path or None, env)
    if sys.stdin.isatty():
        console.print("Enter the SOURCE cluster's unseal keys (hidden), an empty line to finish:")
        keys: list[str] = []
        while key := getpass.getpass(f"unseal key {len(keys) + 1}: ").strip():
            keys.append(key)
        REDACTOR.register(*keys)
        return keys
    return load_unseal_keys(None, env)  # raises naming the options


def fail(exc: ToolkitError, code: int = 2) -> Exit:
    console.print(f"[red]FAILED[/] {type(exc).__name__}: {scrub(str(exc))}")
    return Exit(code=code)


class Reporter:
    """rich progress: a spinner line per step and a counter of secrets processed."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._step = progress.add_task("starting", total=None)
        self._secrets = progress.add_task("secrets", total=None, visible=False)

    def step(self, message: str) -> None:
        self._progress.update(self._step, description=message)
        self._progress.console.log(message)

    def tick(self, count: int) -> None:
        self._progress.update(self._secrets, advance=count, visible=True)


@contextmanager
def reporting() -> Iterator[Reporter]:
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        yield Reporter(progress)


def _table(title: str, rows: Mapping[str, object]) -> Table:
    table = Table(title=title, show_header=False)
    for label, value in rows.items():
        table.add_row(label, str(value))
    return table


def _timings(timings: Mapping[str, float]) -> str:
    return ", ".join(f"{k} {v:.1f} s" for k, v in timings.items())


# ------------------------------------------------------------------------------------------------- tasks
@task(help={
    "dest": DEST_HELP, "s3_endpoint": S3_HELP, "key_file": KEY_HELP,
    "no_prune": "keep every backup (skip the 30 daily + 12 monthly retention)",
    "no_canary": "do not write the canary secrets before the snapshot (restores are then not provable)",
})
def backup(c: Context, dest: str = "", s3_endpoint: str = "", key_file: str = "", no_prune: bool = False,
           no_canary: bool = False) -> None:
    """Take an encrypted raft snapshot of Vault, verify it, store it, apply retention."""
    env = connection_env()
    try:
        with audited("vault.backup", env=env) as details:
            key = backup_key(key_file, env)
            store = store_for(dest, s3_endpoint, env)
            details["destination"] = store.description
            with VaultClient.from_env(env) as vault, reporting() as rep:
                result = create_backup(vault, store, key, canaries=not no_canary, step=rep.step, tick=rep.tick)
                pruned = [] if no_prune else prune(store)
            details.update(backup=result.manifest.name, secrets=len(result.manifest.secrets), pruned=pruned)
    except ToolkitError as exc:
        raise fail(exc) from None
    m = result.manifest
    console.print(_table(f"backup {m.name} [green]OK[/]", {
        "destination": result.destination,
        "snapshot": f"{m.plaintext_bytes:,} bytes, sha256 {m.plaintext_sha256}",
        "blob": f"{m.ciphertext_bytes:,} bytes, sha256 {m.ciphertext_sha256}",
        "key id": m.key_id,
        "secrets recorded": f"{len(m.secrets):,} ({', '.join(m.secret_mounts)}); canaries {len(m.canaries)}",
        "timings": _timings(result.timings),
        "pruned": ", ".join(pruned) or "nothing",
    }))


@task(help={
    "backup": "backup name (vault-YYYYmmddTHHMMSSZ) or 'latest'",
    "target": "comma-separated addresses of the NEW cluster (default: $PM_RESTORE_TARGET_ADDRS); its token "
              "comes from $PM_RESTORE_TARGET_TOKEN",
    "dest": DEST_HELP, "s3_endpoint": S3_HELP, "key_file": KEY_HELP,
    "unseal_keys_file": "the SOURCE cluster's unseal keys (JSON init file or one per line; default "
                        f"${UNSEAL_KEYS_FILE_ENV} / ${UNSEAL_KEYS_ENV}, else a hidden prompt)",
    "allow_no_canaries": "accept a backup without canary secrets (the restore is then unproven)",
    "target_cacert": "the NEW cluster's CA certificate file (default $PM_RESTORE_TARGET_CACERT; a cluster made by "
                     "platform/vault has its own CA: `pulumi stack output ca_cert`)",
})
def restore(c: Context, backup: str = "latest", target: str = "", dest: str = "", s3_endpoint: str = "",
            key_file: str = "", unseal_keys_file: str = "", allow_no_canaries: bool = False,
            target_cacert: str = "") -> None:
    """Runbook: fetch, verify both checksums, decrypt, restore into a new cluster, unseal, check canaries.

    The new cluster must be initialised with the source's share/threshold settings. After the restore its own
    root token is gone: canaries are read with a credential of the source cluster ($PM_RESTORE_VERIFY_ROLE_ID +
    $PM_RESTORE_VERIFY_SECRET_ID, an AppRole that logs in inside the restored Vault; else a token that existed at
    backup time, $PM_RESTORE_VERIFY_TOKEN or $VAULT_TOKEN)."""
    env = connection_env()
    addresses = parse_addresses(target or env.get("PM_RESTORE_TARGET_ADDRS", ""))
    target_token = env.get("PM_RESTORE_TARGET_TOKEN", "")
    if not addresses or not target_token:
        raise Exit("give --target (or PM_RESTORE_TARGET_ADDRS) and PM_RESTORE_TARGET_TOKEN (a token of the new "
                   "cluster)", code=2)
    try:
        verify = VerifyLogin.from_env(env)
    except ToolkitError as exc:
        raise Exit(f"vault.restore: {exc}", code=2) from None
    try:
        with audited("vault.restore", env=env) as details:
            key = backup_key(key_file, env)
            store = store_for(dest, s3_endpoint, env)
            name = latest_backup(store).name if backup == "latest" else backup
            details.update(backup=name, source=store.description, target=list(addresses))
            keys = source_unseal_keys(unseal_keys_file, env)
            ca = target_cacert or env.get("PM_RESTORE_TARGET_CACERT", "")
            new_cluster = VaultClient(VaultConfig(addresses, token=Secret(target_token), verify=ca or True),
                                      manage_token=False)
            with new_cluster, reporting() as rep, tempfile.TemporaryDirectory(prefix="pm-vault-restore-") as work:
                report, manifest = restore_backup(store, name, key, new_cluster, keys, verify,
                                                  Path(work), require_canaries=not allow_no_canaries, step=rep.step)
            details["canaries"] = report.canaries_checked
    except ToolkitError as exc:
        raise fail(exc) from None
    console.print(_table(f"restore of {report.backup} [green]OK[/]", {
        "backup taken": report.created_at,
        "source cluster": f"{manifest.source.cluster_name} ({', '.join(manifest.source.addresses)})",
        "restored into": f"{report.target} (active, unsealed with the source's keys)",
        "canaries": f"{report.canaries_checked} identical",
        "timings": _timings(report.timings) + f" (total {report.total_seconds:.1f} s)",
    }))


@task(name="backup-status", help={
    "dest": DEST_HELP, "s3_endpoint": S3_HELP,
    "json": "print a JSON line for monitoring instead of the table",
})
def backup_status(c: Context, dest: str = "", s3_endpoint: str = "", json: bool = False) -> None:
    """Freshness of the newest backup: <24 h ok, 24-48 h warning, >48 h critical (exit 0/1/2)."""
    env = connection_env()
    try:
        store = store_for(dest, s3_endpoint, env)
        refs = list_backups(store)
        incomplete = incomplete_backups(store)
    except ToolkitError as exc:
        raise fail(exc) from None
    report = assess(r.created for r in refs)
    if json:
        print(jsonlib.dumps({
            "status": report.status.value, "alert": report.alert, "backups": len(refs),
            "latest": refs[-1].name if refs else None,
            "age_hours": round(report.age.total_seconds() / 3600, 2) if report.age is not None else None,
        }))
    else:
        colour = {"ok": "green", "warning": "yellow", "critical": "red"}[report.status.value]
        console.print(_table(f"backups in {store.description}", {
            "freshness": f"[{colour}]{report.describe()}[/]",
            "monitoring alert (> 25 h)": "YES" if report.alert else "no",
            "complete backups": len(refs),
            "newest": refs[-1].name if refs else "-",
            "oldest": refs[0].name if refs else "-",
            "incomplete (no manifest)": ", ".join(incomplete) or "none",
        }))
    if report.exit_code:
        raise Exit(code=report.exit_code)


@task(help={
    "secret_id_file": "also issue a secret id for the system AppRole and write it to this new file (mode 0600; "
                      "never printed): what VAULT_SECRET_ID is read from",
    "wrap_ttl": "instead, print a single-use wrapping token for a new secret id, valid N seconds "
                "(unwrap with `bao unwrap`)",
})
def bootstrap(c: Context, secret_id_file: str = "", wrap_ttl: int = 0) -> None:
    """Bring a Vault (VAULT_ADDR, an admin VAULT_TOKEN) to the toolkit's layout: mounts, transit key, policies,
    AppRole/JWT, admin MFA. Idempotent; prints the system AppRole's role id for VAULT_ROLE_ID."""
    from vault.bootstrap import bootstrap as apply_bootstrap
    from vault.bootstrap import issue_system_secret_id

    if secret_id_file and wrap_ttl:
        raise Exit("vault.bootstrap: give --secret-id-file or --wrap-ttl, not both", code=2)
    if secret_id_file and Path(secret_id_file).exists():
        raise Exit(f"vault.bootstrap: {secret_id_file} exists; a secret id is written only to a new file", code=2)
    env = connection_env()
    try:
        with audited("vault.bootstrap", env=env) as details, VaultClient.from_env(env) as client:
            result = apply_bootstrap(client)
            details.update(vault=list(client.config.addresses), changed=result.changed,
                           secret_id="file" if secret_id_file else "wrapped" if wrap_ttl else "none")
            rows: dict[str, object] = {
                "Vault": ", ".join(client.config.addresses),
                "changed": "; ".join(result.changed) or "nothing (already bootstrapped)",
                "audit devices": ", ".join(result.audit_devices) or "[red]none: declare one in the server config[/]",
                "VAULT_ROLE_ID": result.system_role_id,
            }
            if secret_id_file:
                secret = issue_system_secret_id(client)
                write_private(Path(secret_id_file), secret.reveal() + "\n", exclusive=True)
                rows["VAULT_SECRET_ID"] = f"written to {secret_id_file} (mode 0600)"
            elif wrap_ttl:
                wrapped = issue_system_secret_id(client, wrap_ttl=f"{wrap_ttl}s")
                rows["VAULT_SECRET_ID"] = f"wrapped, single use, {wrap_ttl} s: printed below"
    except ToolkitError as exc:
        raise fail(exc) from None
    console.print(_table("vault bootstrap [green]OK[/]", rows))
    if wrap_ttl and not secret_id_file:
        print(wrapped.reveal())


@task(name="ci-roles", help={
    "repository": "the GitHub repository (owner/name) whose workflows may log in",
    "branch": "the branch whose pushes deploy (role ci-deploy; default main)",
    "jwt_pubkey_file": "verify job tokens against this PEM public key instead of GitHub's OIDC discovery "
                       "(air-gapped issuers, tests)",
    "issuer": "the token issuer (default GitHub Actions')",
})
def ci_roles(c: Context, repository: str, branch: str = "main", jwt_pubkey_file: str = "", issuer: str = "") -> None:
    """The Vault roles the workflows log in with (`invoke ci.vault-login`): ci-deploy for pushes to --branch,
    ci-preview for pull requests of --repository, ci-backup (snapshots and reads only) for the scheduled backup and
    drill; all bound to the repository claim, no stored secret."""
    from vault.ci_auth import GITHUB_ISSUER, configure_ci_jwt
    from vault.cluster import BACKUP_ROLE, backup_policy

    if repository.count("/") != 1 or not all(repository.split("/")):
        raise Exit(f"vault.ci-roles: --repository {repository!r} must be owner/name", code=2)
    keys = [Path(jwt_pubkey_file).read_text()] if jwt_pubkey_file else []
    discovery = None if keys else (issuer or GITHUB_ISSUER)
    roles = {"ci-deploy": {"repository": repository, "ref": f"refs/heads/{branch}"},
             "ci-preview": {"repository": repository, "event_name": "pull_request"},
             "ci-backup": {"repository": repository, "ref": f"refs/heads/{branch}"}}
    policies = {"ci-backup": [BACKUP_ROLE]}  # snapshots and reads only (the scheduled backup and drill)
    try:
        with audited("vault.ci-roles") as details, VaultClient.from_env(connection_env()) as client:
            details["roles"] = roles
            client.write(f"sys/policies/acl/{BACKUP_ROLE}", {"policy": backup_policy()})
            for role, claims in roles.items():
                configure_ci_jwt(client, role=role, bound_claims=claims, oidc_discovery_url=discovery,
                                 validation_pubkeys=keys, bound_issuer=issuer or GITHUB_ISSUER,
                                 policies=policies.get(role, ["system"]))
    except ToolkitError as exc:
        raise fail(exc) from None
    console.print(_table("CI roles [green]OK[/]", {
        role: ", ".join(f"{k}={v}" for k, v in claims.items()) for role, claims in roles.items()}))


@task(help={
    "shares_file": "the encrypted shares the cluster stack handed over (its `shares_file` output; default "
                   "$PM_VAULT_SHARES_FILE)",
    "addresses": "the nodes, comma-separated (default: exported VAULT_ADDRS/VAULT_ADDR, else the shares file's)",
    "wait": "seconds to wait for nodes that cannot take a share yet (a joining node waits for the leader)",
    "prompt": "type your clear share at a hidden prompt instead of decrypting it with gpg",
})
def unseal(c: Context, shares_file: str = "", addresses: str = "", wait: int = 300, prompt: bool = False) -> None:
    """Give YOUR unseal share to every sealed node of the cluster: the share encrypted to a key in your gpg keyring
    is decrypted by gpg in memory (never shown, never written) and sent over TLS (VAULT_CACERT). Run by as many
    operators as the threshold."""
    from vault.cluster import unseal_with
    from vault.pgp import decrypt_share, secret_fingerprints

    settings = connection.resolve()
    env = settings.env
    path = Path(shares_file or env.get("PM_VAULT_SHARES_FILE", ""))
    try:
        document = jsonlib.loads(path.read_text()) if str(path) not in ("", ".") else {}
    except (OSError, ValueError) as exc:
        raise Exit(f"vault.unseal: cannot read the shares file {path} ({type(exc).__name__})", code=2) from None
    if document.get("kind") == "recovery":
        raise Exit("vault.unseal: this cluster auto-unseals (pm:seal static): its nodes unseal themselves, and the "
                   f"shares in {path} are recovery shares (for `bao operator generate-root`), not unseal shares. "
                   "A node that stays sealed cannot read its seal key: read its log", code=2)
    if document.get("addresses") and settings.source != connection.PROCESS_ENVIRONMENT:
        # The hand-off names its cluster's nodes and CA: an env file (the sandbox's) is another Vault.
        env = {k: v for k, v in env.items() if k not in ("VAULT_ADDRS", "VAULT_ADDR", "VAULT_CACERT")}
    nodes = list(parse_addresses(addresses or env.get("VAULT_ADDRS") or env.get("VAULT_ADDR") or "")
                 or document.get("addresses") or [])
    if not nodes:
        raise Exit("vault.unseal: no node addresses: pass --addresses or export VAULT_ADDRS", code=2)
    ca: str | bool = env.get("VAULT_CACERT") or True
    if ca is True and document.get("ca_cert"):  # the cluster CA handed over with the shares
        ca_dir = tempfile.mkdtemp(prefix="pm-vault-ca-")
        Path(ca_dir, "ca.pem").write_text(str(document["ca_cert"]))
        ca = str(Path(ca_dir, "ca.pem"))
    try:
        if prompt:
            share, fingerprint = Secret(getpass.getpass("your unseal share (hidden): ").strip()), "typed"
            REDACTOR.register(share)
        else:
            held = secret_fingerprints(env.get("GNUPGHOME"))
            mine = [s for s in document.get("shares") or [] if str(s.get("fingerprint", "")).upper() in held]
            if not mine:
                raise Exit("vault.unseal: none of the shares in the file is encrypted to a key in your gpg keyring "
                           f"({', '.join(sorted(held)) or 'no secret keys'}); use --prompt for a share you "
                           "decrypted elsewhere", code=2)
            fingerprint = str(mine[0]["fingerprint"])
            share = decrypt_share(str(mine[0]["share"]), env.get("GNUPGHOME"))
        with audited("vault.unseal", env=env) as details:
            outcome = unseal_with(nodes, share, ca, wait=float(wait), report=console.print)
            details.update(nodes=outcome, share_of=fingerprint)
    except ToolkitError as exc:
        raise fail(exc) from None
    console.print(_table(f"vault unseal (share of {fingerprint})", outcome))
