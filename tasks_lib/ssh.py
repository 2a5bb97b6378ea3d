"""`invoke ssh.revoke|regenerate|download|unwrap`: emergency removal of a tenant VPS's SSH key, its replacement,
and the one-time handover of the tenant key to the tenant.

    invoke ssh.revoke --tenant acme --kind tenant --reason "laptop stolen"   # removed from authorized_keys now
    invoke ssh.regenerate --tenant acme --kind tenant                        # new key, authorized at once
    invoke ssh.download --tenant acme [--ttl 900]                            # operator: a single-use token, once
    invoke ssh.unwrap --tenant acme --out ~/.ssh/pm-acme                     # tenant: token on stdin -> 0600 file

Both go through the engine like every day-2 task (intent in Vault, `pulumi up`, no-change preview), then prove
the result with real logins. Revoking the **admin** key replaces it in the same run (the toolkit's only way into
the VPS): the new key is authorized and the old one removed at once, without grace. Vault keeps the history; a
revoked tenant key gets a version without its private half, marked ``revoked_at``.

`download` hands over the current tenant key version once (``vault.handover``: the record at
``vps/<tenant>/handover`` that only the system side writes); a second download of that version is refused unless
``--force --reason`` (audited), or the key is regenerated. `unwrap` needs only the Vault address and the token.
"""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task

from fleet import day2, day2_ops
from fleet.intent import load as load_intent
from fleet.rotation import ssh_kind
from tasks_lib.day2 import COMMON_HELP, connection_env, console, day2_context, fail
from tasks_lib.handover_io import audited, print_token, read_secret, require_declared
from tasks_lib.rotate import finish_report, ssh_checks
from toolkit.errors import ToolkitError, ValidationError
from toolkit.validate import linux_tenant_user
from vault import handover, handover_keyfile, paths, wrapping
from vault.client import VaultClient
from vault.errors import WrappingTokenInvalid

__all__ = ["download", "regenerate", "revoke", "unwrap"]


@task(help={"tenant": "tenant id", "kind": "tenant or admin", "reason": "why (kept in the audit log)",
            **COMMON_HELP})
def revoke(_c: Context, tenant: str, kind: str, reason: str = "revoked by operator", work_dir: str = "",
           audit_log: str = "", now: str = "", verbose: bool = False) -> None:
    """Remove an SSH key from the VPS immediately (no grace); the admin key is replaced in the same run."""
    try:
        key_kind = ssh_kind(kind)
        with day2_context(tenant, work_dir=work_dir, audit_log=audit_log, now=now, verbose=verbose) as (ctx, config):
            prepared = day2.deployed(ctx, tenant)
            before = int(prepared[1]["vault"][key_kind.value]["version"])
            result = day2.run(ctx, tenant, f"ssh.revoke.{key_kind.value}",
                              day2_ops.revoke_ssh(ctx.vault, tenant, key_kind),
                              details={"reason": reason, "revoked_version": before}, prepared=prepared)
            checks = ssh_checks(ctx, config, result, key_kind, refused=(before,))
    except ToolkitError as exc:
        raise fail(exc) from None
    finish_report(f"ssh.revoke {tenant} {kind}", result, checks)
    if key_kind is paths.SshKeyKind.TENANT:
        console.print(f"next: `invoke ssh.regenerate --tenant {tenant} --kind tenant` issues the tenant a new key")


@task(help={"tenant": "tenant id", "kind": "tenant or admin", **COMMON_HELP})
def regenerate(_c: Context, tenant: str, kind: str = "tenant", work_dir: str = "", audit_log: str = "",
               now: str = "", verbose: bool = False) -> None:
    """Issue a new SSH key after a revoke and authorize it at once."""
    try:
        key_kind = ssh_kind(kind)
        with day2_context(tenant, work_dir=work_dir, audit_log=audit_log, now=now, verbose=verbose) as (ctx, config):
            result = day2.run(ctx, tenant, f"ssh.regenerate.{key_kind.value}",
                              day2_ops.regenerate_ssh(ctx.vault, tenant, key_kind))
            checks = ssh_checks(ctx, config, result, key_kind)
    except ToolkitError as exc:
        raise fail(exc) from None
    finish_report(f"ssh.regenerate {tenant} {kind}", result, checks)


def intercepted_advice(tenant: str) -> str:
    return (f"If you did not open this token yourself, someone else may hold the key: the operator revokes it "
            f"(`invoke ssh.revoke --tenant {tenant} --kind tenant --reason 'handover token intercepted'`) and issues a "
            f"new one (`invoke ssh.regenerate --tenant {tenant} --kind tenant`, then `invoke ssh.download --tenant "
            f"{tenant}`). If it expired unused, ask for it again")


def _require_settled(vault: VaultClient, tenant: str) -> None:
    """No tenant key to hand over while it is revoked, or while a day-2 run may be changing it."""
    intent = load_intent(vault, tenant)
    if intent is None:
        return
    if intent.pending is not None:
        raise handover.HandoverRefused(f"{intent.pending.op} has been in progress on {tenant} since "
                                       f"{intent.pending.started_at}: run it again to finish it, then download")
    if intent.tenant_ssh.revoked:
        raise handover.HandoverRefused(f"the tenant key of {tenant} is revoked: `invoke ssh.regenerate --tenant "
                                       f"{tenant} --kind tenant` issues a new one; download that")


@task(help={"tenant": "tenant id", "ttl": f"seconds the token stays valid (default {wrapping.SSH_DOWNLOAD_TTL})",
            "force": "hand over a key version that was handed over before (needs --reason; audited)",
            "reason": "why the key is handed over again (kept in the handover record and the audit log)",
            "work_dir": COMMON_HELP["work_dir"], "audit_log": COMMON_HELP["audit_log"]})
def download(_c: Context, tenant: str, ttl: int = wrapping.SSH_DOWNLOAD_TTL, force: bool = False, reason: str = "",
             work_dir: str = "", audit_log: str = "") -> None:
    """Hand the tenant its SSH private key, once: prints a single-use token (never the key) and how to open it."""
    env = connection_env()
    with audited("ssh.download", tenant, audit_log, env) as run:
        run.details.update(path=f"vps/{tenant}/tenant_ssh", ttl=ttl)
        if force != bool(reason.strip()):
            raise ValidationError("reason", "--force (a second handover of the same key) goes with --reason '<why>', "
                                  "and --reason only with --force")
        require_declared(tenant, work_dir)
        with VaultClient.from_env(env) as vault:
            _require_settled(vault, tenant)
            issued = handover.issue_tenant_key(vault, tenant, by=run.actor, ttl=ttl, override_reason=reason)
        given = issued.handover
        run.details.update(version=given.version, accessor=given.accessor, envelope_accessor=given.envelope_accessor,
                           expires_at=given.expires_at, record_version=issued.record_version)
        if issued.previous:
            run.details.update(outcome="ok_override", override_reason=given.override_reason,
                               previous=[{"at": h.at, "by": h.by, "accessor": h.accessor} for h in issued.previous])
    console.print(f"{given.secret} v{given.version} handed over by {given.by}"
                  + (f" (again: {given.override_reason})" if issued.previous else "")
                  + f"; single-use token, valid {ttl} s (until {given.expires_at}), accessor {given.accessor}:",
                  highlight=False, markup=False)
    print_token(issued.envelope.token)
    console.print(f"The tenant opens it once, on its own machine (the token on stdin or at the prompt):\n"
                  f"  invoke ssh.unwrap --tenant {tenant} --out ~/.ssh/pm-{tenant}\n"
                  "or by hand: `bao unwrap -field=token <token>` gives the inner token, "
                  "`bao unwrap -format=json <inner token>` the key pair (.data.data.private_key).\n"
                  "If the tenant is told the token was already used, someone else opened it: revoke and regenerate "
                  f"(`invoke ssh.revoke --tenant {tenant} --kind tenant`, `invoke ssh.regenerate --tenant {tenant} "
                  "--kind tenant`) and download the new key.", highlight=False, markup=False)


@task(help={"tenant": "your tenant id", "out": "the private key file to create (mode 0600; never overwritten)",
            "audit_log": COMMON_HELP["audit_log"]})
def unwrap(_c: Context, tenant: str, out: str, audit_log: str = "") -> None:
    """Tenant side: open a key handover token (stdin or a hidden prompt) into a new key file; never shows the key."""
    env = connection_env()
    with audited("ssh.unwrap", tenant, audit_log, env) as run:
        run.details.update(file=out)
        with handover_keyfile.private_key_file(out) as write:
            token = read_secret("handover token")
            with wrapping.client_without_token(env) as client:
                try:
                    received = handover.receive_tenant_key(client, token, tenant)
                except WrappingTokenInvalid as exc:
                    raise WrappingTokenInvalid(f"{exc}. {intercepted_advice(tenant)}") from None
            write(received.private_key)
        run.details.update(path=received.secret, version=received.version, accessor=received.accessor,
                           fingerprint=received.fingerprint)
    console.print(f"wrote {out} (mode 0600): {received.secret} v{received.version} {received.fingerprint}; "
                  f"log in as {linux_tenant_user(tenant)} with `ssh -i {out} {linux_tenant_user(tenant)}@<your VPS>`",
                  highlight=False, markup=False)
