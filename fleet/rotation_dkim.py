"""DKIM key rotation with an overlap window (requirements section 5).

rotate: a new dated selector (``pmYYYYMMDD``; ``b``, ``c``... appended if taken) -> key generated into Vault
        (state pending) -> its TXT record published through the tenant's DNS provider -> verified at the
        authoritative server by signing a test message (state published) -> Mailu switched by an installer run
        with the new ``DKIM_SELECTOR`` (new key file; only the services reading it restart) (state active) -> the
        old selector marked retired with ``remove_after`` = now + 48 h in Vault and in the stack file
        (``dkim_retired``), and ``dkim_selector`` updated there, so the next `pulumi up` keeps all of it.
        Every step is idempotent: an interrupted run resumes with the same selector and key.
finish: for retired selectors past ``remove_after`` (or forced): the TXT record is deleted and its absence
        verified at the authoritative server, the old key file is removed from the host, Vault records
        ``removed_at`` and the stack entry is dropped.
"""

from __future__ import annotations

import datetime as dt
import string
from dataclasses import dataclass, field, replace
from typing import Any

from dnsrecords import wire
from dnsrecords.providers import DnsProvider, make_provider
from dnsrecords.records import Record
from dnsrecords.recordset import build_record_set
from dnsrecords.verify import check_dkim, check_record
from fleet.clock import iso
from fleet.rotation import DKIM_OVERLAP, RotationError
from fleet.rotation_context import RotationContext
from fleet.rotation_mailu import converge
from fleet.rotation_stack import update_stack
from fleet.verify import dns_settings, domain_inputs, servers_for
from mailu.config import INSTALL_ROOT
from toolkit import validate
from toolkit.redact import REDACTOR, Secret
from toolkit.tenant_config import TenantConfig
from vault import keys as vkeys
from vault import kv, paths
from vault.errors import SecretNotFound


@dataclass
class DkimResult:
    tenant: str
    action: str
    selector: str = ""
    previous_selector: str = ""
    remove_after: str = ""
    version: int = 0
    restarted: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    dry_run: bool = False

    def summary(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in ("", 0, [], False)}


def next_selector(day: dt.date, taken: set[str]) -> str:
    base = vkeys.dated_selector(day)
    for suffix in ["", *string.ascii_lowercase[1:]]:
        candidate = validate.dkim_selector(base + suffix, "selector")
        if candidate not in taken:
            return candidate
    raise RotationError(f"no free dated selector left for {day}")


def dkim_record(config: TenantConfig, selector: str, public_key: str) -> Record:
    """The selector's TXT record exactly as the tenant component builds it (same name, TTL, value)."""
    inputs = replace(domain_inputs(config, mail_ip="192.0.2.1", dkim_public_key=public_key), dkim_selector=selector)
    return next(r for r in build_record_set(inputs) if r.name.startswith(f"{selector}._domainkey."))


def provider_for(ctx: RotationContext, config: TenantConfig) -> DnsProvider:
    return make_provider(config.dns.provider, dns_settings(config), ctx.dns_secret)


def _key(ctx: RotationContext, config: TenantConfig, selector: str) -> tuple[dict[str, Any], int]:
    """The new selector's key: the one an interrupted run left in Vault, else a freshly generated one."""
    path = paths.dkim(config.domain, selector)
    try:
        current = kv.read(ctx.vault, path)
        return dict(current.data), current.version
    except SecretNotFound:
        pass
    material = vkeys.generate_dkim_key()
    stamp = iso(ctx.clock.now())
    data = {"private_key": material.private_key.reveal(), "public_key": material.public_key,
            "dns_value": material.dns_value, "created_at": stamp, "last_rotated": stamp,
            "state": vkeys.DkimState.PENDING.value, "replaces": config.dkim_selector}
    version = kv.write(ctx.vault, path, data, cas=kv.current_version(ctx.vault, path))
    ctx.say(config.tenant_id, f"{path}: new DKIM key stored (version {version})")
    return data, version


def _set(ctx: RotationContext, domain: str, selector: str, **fields: Any) -> int:
    path = paths.dkim(domain, selector)
    current = kv.read(ctx.vault, path)
    if all(current.data.get(k) == v for k, v in fields.items()):
        return current.version
    return kv.write(ctx.vault, path, {**current.data, **fields}, cas=current.version)


def _resume_selector(ctx: RotationContext, config: TenantConfig) -> str:
    """A selector an interrupted run already created (state pending/published, replacing the current one)."""
    today = vkeys.dated_selector(ctx.clock.now().date())
    for suffix in ["", *string.ascii_lowercase[1:4]]:
        try:
            data = kv.read(ctx.vault, paths.dkim(config.domain, today + suffix)).data
        except SecretNotFound:
            break
        if data.get("replaces") == config.dkim_selector and data.get("state") in ("pending", "published"):
            return str(today + suffix)
    return ""


def rotate_dkim(ctx: RotationContext, config: TenantConfig, *, dry_run: bool = False) -> DkimResult:
    tenant, old = config.tenant_id, config.dkim_selector
    retired = {e.selector for e in config.dkim_retired or ()}
    selector = _resume_selector(ctx, config) or next_selector(ctx.clock.now().date(), {old, *retired})
    result = DkimResult(tenant, "rotate", selector, old, dry_run=dry_run)
    if dry_run:
        result.checks.append(f"would publish {selector}._domainkey.{config.domain}, switch Mailu, keep {old} 48 h")
        return result
    data, result.version = _key(ctx, config, selector)
    pem = Secret(str(data["private_key"]))
    REDACTOR.register(pem)
    record = dkim_record(config, selector, str(data["public_key"]))
    change = provider_for(ctx, config).upsert(record)
    result.checks.append(f"DNS {record.name} TXT: {change.action} via {config.dns.provider}")
    servers = servers_for(config)
    proof = check_dkim(config.domain, selector, pem.reveal().encode(), servers)
    if proof.status != "ok":
        raise RotationError(f"{tenant}: the new selector {selector} does not verify at {servers}: {proof.detail}; "
                            "Mailu still signs with the old one (re-run to resume)")
    result.checks.append(f"authoritative server: {proof.subject}: ok")
    _set(ctx, config.domain, selector, state=vkeys.DkimState.PUBLISHED.value)

    switched = config.model_copy(update={"dkim_selector": selector})
    executor, _ = ctx.connect_any(ctx.host_of(config), ctx.admin_keys(tenant))
    with executor:
        report = converge(executor, ctx.vault, switched, health_timeout=ctx.mailu_health_timeout)
    result.restarted = list(report.restarted)
    result.checks.append(f"Mailu switched to {selector}: steps changed {list(report.changed_steps)}, "
                         f"restarted {result.restarted or 'nothing'}")
    now = ctx.clock.now()
    remove_after = iso(now + DKIM_OVERLAP)
    result.version = _set(ctx, config.domain, selector, state=vkeys.DkimState.ACTIVE.value, activated_at=iso(now))
    _set(ctx, config.domain, old, state=vkeys.DkimState.RETIRED.value, retired_at=iso(now), remove_after=remove_after)
    result.remove_after = remove_after
    entries = [e.model_dump(mode="json") for e in config.dkim_retired or ()]
    entries.append({"selector": old, "remove_after": remove_after})
    update_stack(ctx.stacks_dir, tenant, dkim_selector=selector, dkim_retired=entries)
    result.checks.append(f"stack file: dkim_selector={selector}, {old} kept published until {remove_after}")
    old_record = check_record(dkim_record(config, old, _public(ctx, config.domain, old)), servers)
    result.checks.append(f"old record {old_record.subject}: {old_record.status}")
    ctx.audit.event("rotate.dkim", tenant=tenant, outcome="ok", selector=selector, previous_selector=old,
                    vault_path=paths.dkim(config.domain, selector).logical, version=result.version,
                    remove_after=remove_after, restarted=result.restarted)
    return result


def _public(ctx: RotationContext, domain: str, selector: str) -> str:
    return str(kv.read(ctx.vault, paths.dkim(domain, selector)).data["public_key"])


def finish_dkim(ctx: RotationContext, config: TenantConfig, *, force: bool = False,
                dry_run: bool = False) -> list[DkimResult]:
    """Remove retired selectors whose overlap is over (all of them with ``force``)."""
    now, results = ctx.clock.now(), []
    for entry in config.dkim_retired or ():
        if entry.remove_after > now and not force:
            continue
        result = DkimResult(config.tenant_id, "finish", entry.selector, remove_after=iso(entry.remove_after),
                            dry_run=dry_run)
        results.append(result)
        if dry_run:
            result.checks.append(f"would delete {entry.selector}._domainkey.{config.domain} TXT")
            continue
        _remove_retired(ctx, config, entry.selector, result)
        config = update_stack(ctx.stacks_dir, config.tenant_id, dkim_retired=[
            e.model_dump(mode="json") for e in config.dkim_retired or () if e.selector != entry.selector] or None)
        ctx.audit.event("rotate.finish.dkim", tenant=config.tenant_id, outcome="ok", selector=entry.selector,
                        forced=force and entry.remove_after > now)
    return results


def _remove_retired(ctx: RotationContext, config: TenantConfig, selector: str, result: DkimResult) -> None:
    name = f"{selector}._domainkey.{config.domain}"
    provider = provider_for(ctx, config)
    current = provider.get(name, "TXT")
    if current is not None:
        provider.delete(current)
    server, port = servers_for(config)[0]
    if wire.authoritative_record(server, port, name, "TXT") is not None:
        raise RotationError(f"{name} TXT is still served by {server}:{port} after its deletion")
    result.checks.append(f"DNS {name} TXT: {'deleted' if current else 'already absent'}; absent at {server}:{port}")
    executor, _ = ctx.connect_any(ctx.host_of(config), ctx.admin_keys(config.tenant_id))
    with executor:
        executor.run(["rm", "-f", "--", f"{INSTALL_ROOT}/dkim/{config.domain}.{selector}.key"])
    result.checks.append("old key file removed from the host")
    try:
        result.version = _set(ctx, config.domain, selector, state=vkeys.DkimState.RETIRED.value,
                              removed_at=iso(ctx.clock.now()))
    except SecretNotFound:
        result.checks.append(f"dkim/{config.domain}/{selector} not in Vault (nothing to mark)")
