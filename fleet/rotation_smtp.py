"""Mailu admin (SMTP) password rotation with zero downtime (requirements section 3).

Order: new password in memory -> set in Mailu on the host (installer mechanism) -> stored in Vault as a new version
of ``smtp/<tenant>/admin`` (transit ciphertext) -> verified. Mailu keeps working throughout: clients holding the old
password fail only from the moment Mailu has the new one, and the new one is in Vault right after. If the Vault
write fails, Mailu is set back to the old password before the error is raised, so the two never disagree.

Verification: the host's admin-account marker holds the new credential, Vault's new version decrypts to it, and an
IMAPS login is attempted; where nothing answers on 993 (the sandbox runs no Mailu) the report says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fleet.clock import iso
from fleet.rotation import SMTP_DAYS, RotationError
from fleet.rotation_context import RotationContext
from fleet.rotation_mailu import admin_marker_is, login_check, set_admin_password
from mailu.config import MailuConfig
from toolkit.errors import ToolkitError
from toolkit.tenant_config import TenantConfig
from vault import kv, paths, smtp


@dataclass
class SmtpResult:
    tenant: str
    version: int = 0
    previous_version: int = 0
    username: str = ""
    checks: list[str] = field(default_factory=list)
    login: str = ""
    dry_run: bool = False

    def summary(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in ("", 0, [], False)}


def rotate_smtp(ctx: RotationContext, config: TenantConfig, *, dry_run: bool = False) -> SmtpResult:
    tenant, path = config.tenant_id, paths.smtp_admin(config.tenant_id)
    current = kv.read(ctx.vault, path)
    result = SmtpResult(tenant, previous_version=current.version, username=str(current.data["username"]),
                        dry_run=dry_run)
    if dry_run:
        result.checks.append(f"would set a new password in Mailu, then write version {current.version + 1}")
        return result
    mailu = MailuConfig.from_tenant_config(config)
    old_password = smtp.decrypt(ctx.vault, str(current.data["encrypted_password"]))
    password = smtp.generate_password()
    ciphertext = smtp.encrypt(ctx.vault, password)  # transit first: a Vault outage stops us before Mailu changes
    address = ctx.host_of(config)
    executor, _ = ctx.connect_any(address, ctx.admin_keys(tenant))
    with executor:
        executor.register_secret(password, old_password)
        set_admin_password(executor, mailu, password)
        ctx.say(tenant, "new admin password set in Mailu")
        stamp = iso(ctx.clock.now())
        data = {**current.data, "encrypted_password": ciphertext, "last_rotated": stamp,
                "rotation_policy": f"{SMTP_DAYS}_days", "previous_version": current.version}
        data.pop("incident_id", None)
        try:
            result.version = kv.write(ctx.vault, path, data, cas=current.version)
        except ToolkitError as exc:
            set_admin_password(executor, mailu, old_password)
            raise RotationError(f"{path}: Vault write failed ({exc}); Mailu was set back to the old password") from exc
        ctx.say(tenant, f"{path} version {result.version} stored")
        if not admin_marker_is(executor, mailu, password):
            raise RotationError(f"{tenant}: the host's admin-account record does not hold the new password")
    result.checks.append("host: admin-account record (installer marker) holds the new credential")
    if smtp.decrypt(ctx.vault, ciphertext).reveal() != password.reveal():
        raise RotationError(f"{path}: the stored ciphertext does not decrypt to the new password")
    result.checks.append(f"Vault: version {result.version} decrypts to the new password")
    login = login_check(config.mail_host, result.username, password)
    if login.status == "rejected":
        raise RotationError(f"{tenant}: Mailu refused the new password ({login.detail})")
    result.login = "ok" if login.status == "ok" else f"not verified: Mailu not reachable ({login.detail})"
    result.checks.append(f"IMAPS login: {result.login}")
    ctx.audit.event("rotate.smtp", tenant=tenant, outcome="ok", vault_path=path.logical, version=result.version,
                    previous_version=current.version, login=login.status)
    return result
