"""The intent edits of each day-2 operation: pure functions of (intent, now), built from facts read once from Vault.

The engine does the rest (``fleet.day2.run``): a new SSH generation is a new key version made by the key resource, a
grace key stays in root's / the tenant's authorized_keys until a task drops it, a new DKIM selector is a new key,
TXT record and Mailu switch, a retired selector keeps its record until its overlap ends.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import replace

from fleet.clock import iso
from fleet.day2 import Day2Error, Edit
from fleet.intent import GraceKey, RetiredDkim, SmtpEmergency, TenantIntent, fresh_selector, taken_selectors
from toolkit import validate
from vault import kv, paths
from vault.client import VaultClient

SSH_GRACE = dt.timedelta(hours=24)
DKIM_OVERLAP = dt.timedelta(hours=48)


def _current_ssh(vault: VaultClient, tenant: str, kind: paths.SshKeyKind) -> kv.KvSecret:
    return kv.read(vault, paths.ssh_key(tenant, kind))


def rotate_ssh(vault: VaultClient, tenant: str, kind: paths.SshKeyKind, grace: dt.timedelta = SSH_GRACE) -> Edit:
    """A new key generation; the current key stays authorized for ``grace`` (0: removed by the same run)."""
    current = _current_ssh(vault, tenant, kind)

    def edit(intent: TenantIntent, now: dt.datetime) -> TenantIntent:
        ssh = intent.ssh(kind)
        if ssh.revoked:
            raise Day2Error(f"the {kind.value} key of {tenant} is revoked: use `invoke ssh.regenerate`")
        kept = ssh.grace
        if grace > dt.timedelta(0):
            kept = (*kept, GraceKey(str(current.data["public_key"]), str(current.data.get("fingerprint", "")),
                                    current.version, iso(now + grace)))
        return intent.with_ssh(kind, replace(ssh, generation=ssh.generation + 1, grace=kept,
                                             connect_versions=(current.version,)))
    return edit


def revoke_ssh(vault: VaultClient, tenant: str, kind: paths.SshKeyKind) -> Edit:
    """Tenant key: nothing authorized until ``regenerate``. Admin key (the toolkit's only way in): replaced at once,
    the old one removed by the same run, no grace."""
    if kind is paths.SshKeyKind.ADMIN:
        rotate = rotate_ssh(vault, tenant, kind, grace=dt.timedelta(0))

        def admin(intent: TenantIntent, now: dt.datetime) -> TenantIntent:
            rotated = rotate(intent, now)
            return rotated.with_ssh(kind, replace(rotated.admin_ssh, grace=()))
        return admin

    def edit(intent: TenantIntent, _now: dt.datetime) -> TenantIntent:
        if intent.tenant_ssh.revoked:
            raise Day2Error(f"the tenant key of {tenant} is already revoked: use `invoke ssh.regenerate`")
        return intent.with_ssh(kind, replace(intent.tenant_ssh, revoked=True, grace=()))
    return edit


def regenerate_ssh(vault: VaultClient, tenant: str, kind: paths.SshKeyKind) -> Edit:
    """A new key authorized at once (after a revoke)."""
    if kind is paths.SshKeyKind.ADMIN:
        return revoke_ssh(vault, tenant, kind)

    def edit(intent: TenantIntent, _now: dt.datetime) -> TenantIntent:
        ssh = intent.tenant_ssh
        if not ssh.revoked:
            raise Day2Error(f"the tenant key of {tenant} is not revoked: rotate it with `invoke rotate.ssh`")
        return intent.with_ssh(kind, replace(ssh, generation=ssh.generation + 1, revoked=False, grace=()))
    return edit


def rotate_smtp(intent: TenantIntent, _now: dt.datetime) -> TenantIntent:
    return replace(intent, smtp_generation=intent.smtp_generation + 1)


def emergency_smtp(incident_id: str) -> Edit:
    """The emergency reset: a new SMTP generation made for ``incident_id`` (its key resource writes a 48-byte
    password and marks the version it replaces compromised with the incident: ``vault.smtp``)."""
    incident = validate.key_id(incident_id, "incident")

    def edit(intent: TenantIntent, now: dt.datetime) -> TenantIntent:
        generation = intent.smtp_generation + 1
        return replace(intent, smtp_generation=generation,
                       smtp_emergency=SmtpEmergency(generation, incident, iso(now)))
    return edit


def rotate_dkim(vault: VaultClient, domain: str) -> Edit:
    """A fresh selector (never used, by Vault's history and the intent's); the old one published 48 h more."""
    def edit(intent: TenantIntent, now: dt.datetime) -> TenantIntent:
        old = intent.dkim.selector
        public = str(kv.read(vault, paths.dkim(domain, old)).data["public_key"])
        selector = fresh_selector(now.date(), taken_selectors(vault, domain, intent))
        retired = (*intent.dkim.retired, RetiredDkim(old, public, iso(now + DKIM_OVERLAP)))
        return replace(intent, dkim=replace(intent.dkim, selector=selector, nonce=secrets.token_hex(8),
                                            retired=retired, history=(*intent.dkim.history, selector)))
    return edit


def ended(intent: TenantIntent, now: dt.datetime, *, force: bool = False) -> list[str]:
    """What ``finish`` would close at ``now``: grace keys and DKIM overlaps whose end has passed."""
    def over(instant: str) -> bool:
        return force or dt.datetime.fromisoformat(instant.replace("Z", "+00:00")) <= now
    found = [f"{kind.value} key {g.fingerprint} (grace until {g.until})"
             for kind in paths.SshKeyKind for g in intent.ssh(kind).grace if over(g.until)]
    found += [f"DKIM selector {r.selector} (published until {r.remove_after})"
              for r in intent.dkim.retired if over(r.remove_after)]
    return found


def finish(*, force: bool = False) -> Edit:
    """Drop the grace keys and retired selectors whose window has ended (all of them with ``force``)."""
    def edit(intent: TenantIntent, now: dt.datetime) -> TenantIntent:
        def keep(instant: str) -> bool:
            return not force and dt.datetime.fromisoformat(instant.replace("Z", "+00:00")) > now
        for kind in paths.SshKeyKind:
            ssh = intent.ssh(kind)
            intent = intent.with_ssh(kind, replace(ssh, grace=tuple(g for g in ssh.grace if keep(g.until))))
        return replace(intent, dkim=replace(intent.dkim, retired=tuple(
            r for r in intent.dkim.retired if keep(r.remove_after))))
    return edit


def exposed_selectors(intent: TenantIntent, keep: str = "") -> tuple[str, ...]:
    """The selectors a compromise burns: the one in service and every retired one (``keep`` excepted)."""
    return tuple(s for s in (intent.dkim.selector, *(r.selector for r in intent.dkim.retired)) if s != keep)


def after_compromise(intent: TenantIntent, selector: str, *, smtp_generation: int,
                     secret_key_generation: int) -> TenantIntent:
    """The intent after a compromise, in absolute values (applying it twice is applying it once): ``selector`` in
    service, the exposed selectors burned (records removed by the same run, keys marked compromised), retired
    emptied, a fresh nonce only when the selector changes, and the Mailu admin password / SECRET_KEY at the given
    generations."""
    dkim = intent.dkim
    burn = (*dkim.burned, *(s for s in exposed_selectors(intent, keep=selector) if s not in dkim.burned))
    nonce = dkim.nonce if selector == dkim.selector else secrets.token_hex(8)
    history = dkim.history if selector in dkim.history else (*dkim.history, selector)
    return replace(intent, smtp_generation=smtp_generation, secret_key_generation=secret_key_generation,
                   dkim=replace(dkim, selector=selector, nonce=nonce, retired=(), burned=burn, history=history))


def burn_after_compromise(vault: VaultClient, domain: str) -> Edit:
    """Everything that lived on a compromised host is replaced and never served again: a fresh DKIM selector (the
    current and any retired ones are burned), a new Mailu admin password and SECRET_KEY (see ``after_compromise``)."""
    def edit(intent: TenantIntent, now: dt.datetime) -> TenantIntent:
        selector = fresh_selector(now.date(), taken_selectors(vault, domain, intent))
        return after_compromise(intent, selector, smtp_generation=intent.smtp_generation + 1,
                                secret_key_generation=intent.secret_key_generation + 1)
    return edit


def compose(*edits: Edit) -> Edit:
    def edit(intent: TenantIntent, now: dt.datetime) -> TenantIntent:
        for one in edits:
            intent = one(intent, now)
        return intent
    return edit
