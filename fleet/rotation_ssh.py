"""SSH key rotation with a grace window, revoke and regenerate (requirements section 2).

rotate:  new key version in Vault (``grace_until`` = now + 24 h, ``previous_*`` fields) -> new public key added to
         authorized_keys through the CURRENT admin key -> login with the new key verified (and the old one still
         works). Re-running while a window is open resumes (adds the key if missing) instead of generating again.
finish:  after ``grace_until`` (or forced): old key removed from authorized_keys, refusal of the old key verified,
         a version without the grace fields written (``grace_closed_at``).
revoke:  tenant key: removed from authorized_keys at once, Vault marked ``revoked_at`` (the revoked version drops
         the private key; history keeps the old versions); ``regenerate`` then issues a new key, authorized at once.
         admin key: the toolkit's only way in, so revoking it replaces it in the same step (new key authorized and
         verified, then the old one removed at once, no grace).

authorized_keys: root's for the admin key (Hostwinds installs it there; the installer does not manage it), the
tenant user's for the tenant key. Lines are matched by key blob, so comments do not matter.
"""

from __future__ import annotations

import datetime as dt
import posixpath
from dataclasses import dataclass, field
from typing import Any

from fleet.clock import iso, parse_instant
from fleet.rotation import SSH_GRACE, RotationError, ssh_policy_days
from fleet.rotation_context import RotationContext
from toolkit import validate
from toolkit.redact import REDACTOR, Secret
from toolkit.ssh import RemoteExecutor
from toolkit.tenant_config import TenantConfig
from toolkit.tenant_files import AUTHORIZED_KEYS, TenantFiles
from vault import keys as vkeys
from vault import kv, paths

GRACE_FIELDS = ("grace_until", "previous_public_key", "previous_fingerprint", "previous_version", "revoke_previous")
REVOKE_FIELDS = ("revoked_at", "revoked_reason", "revoked_fingerprint")


@dataclass
class SshResult:
    tenant: str
    kind: str
    action: str
    version: int = 0
    fingerprint: str = ""
    previous_fingerprint: str = ""
    grace_until: str = ""
    checks: list[str] = field(default_factory=list)
    dry_run: bool = False

    def summary(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in ("", 0, [], False)}


# ------------------------------------------------------------------------------------- authorized_keys text
def key_blob(line: str) -> str:
    """The base64 blob of an OpenSSH public key line (options before the type are allowed)."""
    parts = line.split()
    for index, part in enumerate(parts[:-1]):
        if part.startswith(("ssh-", "ecdsa-", "sk-")):
            return parts[index + 1]
    return ""


def add_key(content: str, public_key: str) -> str:
    lines = [line for line in content.splitlines() if line.strip()]
    if any(key_blob(line) == key_blob(public_key) for line in lines):
        return "".join(line + "\n" for line in lines)
    return "".join(line + "\n" for line in [*lines, public_key.strip()])


def remove_key(content: str, public_key: str) -> str:
    blob = key_blob(public_key)
    return "".join(line + "\n" for line in content.splitlines() if line.strip() and key_blob(line) != blob)


def has_key(content: str, public_key: str) -> bool:
    return any(key_blob(line) == key_blob(public_key) for line in content.splitlines())


def authorized_keys_file(config: TenantConfig, kind: paths.SshKeyKind) -> tuple[str, str, str]:
    """(path, owner, group) of the authorized_keys file a kind of key opens."""
    if kind is paths.SshKeyKind.ADMIN:
        return "/root/.ssh/authorized_keys", "root", "root"
    user = validate.linux_tenant_user(config.tenant_id)
    return f"/home/{user}/.ssh/authorized_keys", user, user


def login_user(config: TenantConfig, kind: paths.SshKeyKind) -> str:
    return "root" if kind is paths.SshKeyKind.ADMIN else validate.linux_tenant_user(config.tenant_id)


def edit_authorized_keys(executor: RemoteExecutor, config: TenantConfig, kind: paths.SshKeyKind, *,
                         add: str = "", remove: tuple[str, ...] = ()) -> bool:
    """Add and/or remove keys (atomic replace, mode 0600, right owner). Returns True if the content changed.

    Root's own file is edited as root. The tenant's file lives in a home the tenant controls: it is read and
    written AS the tenant (``toolkit.tenant_files``), so a symlink or hard link planted there cannot make root
    write or chown anything outside it."""

    def edited(before: str) -> str:
        text = before
        for key in remove:
            text = remove_key(text, key)
        return add_key(text, add) if add else text

    if kind is not paths.SshKeyKind.ADMIN:
        report = TenantFiles(executor, login_user(config, kind)).edit(
            AUTHORIZED_KEYS, lambda current: edited((current or b"").decode("utf-8", errors="replace")).encode())
        return report.content_changed
    path, owner, group = authorized_keys_file(config, kind)
    raw = executor.read_file_if_exists(path)
    before = raw.decode() if raw is not None else ""
    text = edited(before)
    if text == before:
        return False
    executor.run(["install", "-d", "-m", "0700", "-o", owner, "-g", group, posixpath.dirname(path)])
    executor.put_file(path, text.encode(), mode=0o600, owner=owner, group=group)
    return True


# ----------------------------------------------------------------------------------------------- Vault data
def _key_data(current: dict[str, Any], material: vkeys.SshKeyMaterial, stamp: str, days: int) -> dict[str, Any]:
    return {
        "private_key": material.private_key.reveal(),
        "public_key": material.public_key,
        "fingerprint": material.fingerprint,
        "algorithm": material.algorithm.value,
        "created_at": current.get("created_at") or stamp,
        "last_rotated": stamp,
        "rotation_policy": f"{days}_days",
    }


def _new_material(tenant: str, kind: paths.SshKeyKind, current: dict[str, Any]) -> vkeys.SshKeyMaterial:
    algorithm = vkeys.SshAlgorithm(str(current.get("algorithm") or "rsa"))
    return vkeys.generate_ssh_keypair(algorithm, comment=f"{kind.value}@{tenant}")


def _private(data: dict[str, Any]) -> Secret:
    value = Secret(str(data["private_key"]))
    REDACTOR.register(value)
    return value


# ---------------------------------------------------------------------------------------------- operations
def rotate_ssh(ctx: RotationContext, config: TenantConfig, kind: paths.SshKeyKind, *, rotation_days: int | None = None,
               grace: dt.timedelta = SSH_GRACE, dry_run: bool = False, revoke_previous: str = "") -> SshResult:
    """Rotate one SSH key with a grace window (resumes an open window instead of rotating twice)."""
    tenant, path = config.tenant_id, paths.ssh_key(config.tenant_id, kind)
    current = kv.read(ctx.vault, path)
    data = dict(current.data)
    if data.get("revoked_at"):
        raise RotationError(f"{path}: the key is revoked; use ssh.regenerate")
    result = SshResult(tenant, kind.value, "rotate", dry_run=dry_run)
    now = ctx.clock.now()
    if data.get("grace_until"):
        ctx.say(tenant, f"{path}: a grace window is open (until {data['grace_until']}); resuming it")
        result.action = "resume"
    else:
        days = ssh_policy_days(rotation_days if rotation_days is not None else data.get("rotation_policy"))
        if dry_run:
            result.previous_fingerprint = str(data.get("fingerprint", ""))
            result.grace_until = iso(now + grace)
            result.checks.append(f"would write a new version of {path} and authorize it ({days}-day policy)")
            return result
        material = _new_material(tenant, kind, data)
        stamp = iso(now)
        new = {**_key_data(data, material, stamp, days), "grace_until": iso(now + grace),
               "previous_public_key": data["public_key"], "previous_fingerprint": data.get("fingerprint", ""),
               "previous_version": current.version}
        if revoke_previous:
            new["revoke_previous"] = revoke_previous
        version = kv.write(ctx.vault, path, new, cas=current.version)
        ctx.say(tenant, f"{path}: new key {material.fingerprint} stored as version {version}")
        current = kv.read(ctx.vault, path, version)
        data = dict(current.data)
    if dry_run:
        result.checks.append("would resume the open grace window")
        return result
    _authorize_new(ctx, config, kind, data, result)
    result.version, result.fingerprint = current.version, str(data["fingerprint"])
    result.previous_fingerprint, result.grace_until = str(data["previous_fingerprint"]), str(data["grace_until"])
    ctx.audit.event("rotate.ssh", tenant=tenant, outcome="ok", kind=kind.value, vault_path=path.logical,
                    version=current.version, fingerprint=result.fingerprint,
                    previous_fingerprint=result.previous_fingerprint, grace_until=result.grace_until,
                    action=result.action)
    return result


def _authorize_new(ctx: RotationContext, config: TenantConfig, kind: paths.SshKeyKind, data: dict[str, Any],
                   result: SshResult) -> None:
    """Add the new key (through whichever admin key still opens root), then prove both keys log in."""
    tenant, address = config.tenant_id, ctx.host_of(config)
    new_key = _private(data)
    previous_version = int(data["previous_version"])
    old_key = ctx.private_key(paths.ssh_key(tenant, kind), previous_version)
    admin_candidates = [old_key, new_key] if kind is paths.SshKeyKind.ADMIN else ctx.admin_keys(tenant)
    executor, _index = ctx.connect_any(address, admin_candidates)
    with executor:
        changed = edit_authorized_keys(executor, config, kind, add=str(data["public_key"]))
    result.checks.append(f"new key {'added to' if changed else 'already in'} {authorized_keys_file(config, kind)[0]}")
    user = login_user(config, kind)
    if not ctx.login_works(address, new_key, user):
        raise RotationError(f"{tenant}: {user}@{address} refused the NEW {kind.value} key after it was added; the old "
                            "key stays authorized (re-run rotate.ssh to resume)")
    result.checks.append(f"login {user}@{address} with the new key: ok")
    if ctx.login_works(address, old_key, user):
        result.checks.append(f"login {user}@{address} with the old key: ok (grace)")
    else:
        result.checks.append(f"login {user}@{address} with the old key: refused (already removed)")


def finish_ssh(ctx: RotationContext, config: TenantConfig, kind: paths.SshKeyKind, *, force: bool = False,
               dry_run: bool = False) -> SshResult | None:
    """Close a grace window that has ended: None if none is open; RotationError if it has not ended (no force)."""
    tenant, path = config.tenant_id, paths.ssh_key(config.tenant_id, kind)
    current = kv.read(ctx.vault, path)
    data = dict(current.data)
    if not data.get("grace_until"):
        return None
    until, now = parse_instant(str(data["grace_until"]), "grace_until"), ctx.clock.now()
    if now < until and not force:
        raise RotationError(f"{path}: the grace window runs until {iso(until)} (now {iso(now)}); wait or --force")
    result = SshResult(tenant, kind.value, "finish", current.version, str(data["fingerprint"]),
                       str(data["previous_fingerprint"]), dry_run=dry_run)
    if dry_run:
        result.checks.append(f"would remove {result.previous_fingerprint} from authorized_keys")
        return result
    address, user = ctx.host_of(config), login_user(config, kind)
    _authorize_new(ctx, config, kind, data, SshResult(tenant, kind.value, "ensure"))  # interrupted rotation?
    old_key = ctx.private_key(path, int(data["previous_version"]))
    executor, _ = ctx.connect_any(address, [_private(data)] if kind is paths.SshKeyKind.ADMIN
                                  else ctx.admin_keys(tenant))
    with executor:
        edit_authorized_keys(executor, config, kind, remove=(str(data["previous_public_key"]),))
    if ctx.login_works(address, old_key, user):
        raise RotationError(f"{tenant}: {user}@{address} still accepts the old key after its removal")
    result.checks += [f"old key removed from {authorized_keys_file(config, kind)[0]}",
                      f"login {user}@{address} with the old key: refused",
                      f"login {user}@{address} with the new key: "
                      f"{'ok' if ctx.login_works(address, _private(data), user) else 'REFUSED'}"]
    closed = {k: v for k, v in data.items() if k not in GRACE_FIELDS}
    closed["grace_closed_at"] = iso(now)
    if data.get("revoke_previous"):
        closed["last_revoked"] = {"fingerprint": data["previous_fingerprint"], "at": iso(now),
                                  "reason": data["revoke_previous"], "version": data["previous_version"]}
    result.version = kv.write(ctx.vault, path, closed, cas=current.version)
    ctx.audit.event("rotate.finish.ssh", tenant=tenant, outcome="ok", kind=kind.value, vault_path=path.logical,
                    version=result.version, removed_fingerprint=result.previous_fingerprint,
                    forced=force and now < until)
    return result


def revoke_ssh(ctx: RotationContext, config: TenantConfig, kind: paths.SshKeyKind, *, reason: str,
               dry_run: bool = False) -> SshResult:
    """Remove a key from authorized_keys at once (no grace). The admin key is replaced in the same step."""
    tenant, path = config.tenant_id, paths.ssh_key(config.tenant_id, kind)
    if kind is paths.SshKeyKind.ADMIN:
        rotated = rotate_ssh(ctx, config, kind, grace=dt.timedelta(0), dry_run=dry_run, revoke_previous=reason)
        if dry_run:
            rotated.action, rotated.checks = "revoke", ["would replace the admin key and remove the old one at once"]
            return rotated
        finished = finish_ssh(ctx, config, kind, force=True)
        assert finished is not None
        finished.action = "revoke"
        finished.checks = rotated.checks + finished.checks
        ctx.audit.event("ssh.revoke", tenant=tenant, outcome="ok", kind=kind.value, vault_path=path.logical,
                        revoked_fingerprint=finished.previous_fingerprint, replacement=finished.fingerprint,
                        reason=reason)
        return finished
    current = kv.read(ctx.vault, path)
    data = dict(current.data)
    if data.get("revoked_at"):
        raise RotationError(f"{path}: already revoked at {data['revoked_at']}; use ssh.regenerate")
    result = SshResult(tenant, kind.value, "revoke", current.version, "", str(data.get("fingerprint", "")),
                       dry_run=dry_run)
    if dry_run:
        result.checks.append("would remove the key from authorized_keys and mark it revoked")
        return result
    doomed = [str(data["public_key"])] + ([str(data["previous_public_key"])] if data.get("previous_public_key") else [])
    address, user = ctx.host_of(config), login_user(config, kind)
    executor, _ = ctx.connect_any(address, ctx.admin_keys(tenant))
    with executor:
        edit_authorized_keys(executor, config, kind, remove=tuple(doomed))
    if ctx.login_works(address, _private(data), user):
        raise RotationError(f"{tenant}: {user}@{address} still accepts the revoked key")
    result.checks += ["key removed from authorized_keys", f"login {user}@{address} with the revoked key: refused"]
    revoked = {k: v for k, v in data.items() if k not in (*GRACE_FIELDS, "private_key")}
    revoked.update({"revoked_at": iso(ctx.clock.now()), "revoked_reason": reason,
                    "revoked_fingerprint": data.get("fingerprint", "")})
    result.version = kv.write(ctx.vault, path, revoked, cas=current.version)
    ctx.audit.event("ssh.revoke", tenant=tenant, outcome="ok", kind=kind.value, vault_path=path.logical,
                    version=result.version, revoked_fingerprint=result.previous_fingerprint, reason=reason)
    return result


def regenerate_ssh(ctx: RotationContext, config: TenantConfig, kind: paths.SshKeyKind, *,
                   dry_run: bool = False) -> SshResult:
    """A new key after a revoke, authorized at once (no grace: there is no old key to keep)."""
    tenant, path = config.tenant_id, paths.ssh_key(config.tenant_id, kind)
    current = kv.read(ctx.vault, path)
    data = dict(current.data)
    if not data.get("revoked_at"):
        raise RotationError(f"{path}: the key is not revoked; rotate it with rotate.ssh")
    result = SshResult(tenant, kind.value, "regenerate", dry_run=dry_run,
                       previous_fingerprint=str(data.get("revoked_fingerprint", "")))
    if dry_run:
        result.checks.append("would write a new key and authorize it")
        return result
    material = _new_material(tenant, kind, data)
    stamp = iso(ctx.clock.now())
    new = _key_data(data, material, stamp, ssh_policy_days(data.get("rotation_policy")))
    new["last_revoked"] = {k: data.get(k, "") for k in REVOKE_FIELDS} | {"version": current.version}
    result.version = kv.write(ctx.vault, path, new, cas=current.version)
    result.fingerprint = material.fingerprint
    address, user = ctx.host_of(config), login_user(config, kind)
    executor, _ = ctx.connect_any(address, ctx.admin_keys(tenant))
    with executor:
        edit_authorized_keys(executor, config, kind, add=material.public_key)
    if not ctx.login_works(address, material.private_key, user):
        raise RotationError(f"{tenant}: {user}@{address} refused the regenerated key")
    result.checks += ["new key added to authorized_keys", f"login {user}@{address} with the new key: ok"]
    ctx.audit.event("ssh.regenerate", tenant=tenant, outcome="ok", kind=kind.value, vault_path=path.logical,
                    version=result.version, fingerprint=result.fingerprint)
    return result
