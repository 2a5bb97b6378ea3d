"""DKIM pieces of the tenant component that keep a `rotate.dkim` rotation in place on the next `pulumi up`.

- ``RotatableDkimKey``: the ``vault:DkimKey`` resource type (same type token, so existing stacks see no change)
  whose **create adopts** a key already in service at ``dkim/<domain>/<selector>`` (state published, active or
  retired: put there by `rotate.dkim`) instead of generating another one. A selector Vault has never seen, or one
  only ever generated (state pending), is generated as before. With ``must_exist`` it never generates (retired
  selectors).
- ``retired_dkim_records``: the TXT record of every selector in the stack's ``dkim_retired`` list, registered under
  the record component with the name (URN) the record had while it was the active selector, so the engine keeps
  the published record instead of deleting it; dropping the entry (after the >= 48 h overlap) deletes it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pulumi
import pulumi.dynamic

from components.dns_records import DnsRecord, MailDnsRecords
from components.vault_keys import DkimKeyProvider, _client, _stored_outs
from dnsrecords.recordset import MailDomainInputs, build_record_set
from toolkit.errors import ConfigError
from vault import keys as vkeys
from vault import kv, paths
from vault.errors import SecretNotFound

ADOPTED_STATES = frozenset({vkeys.DkimState.PUBLISHED.value, vkeys.DkimState.ACTIVE.value,
                            vkeys.DkimState.RETIRED.value})


class RotatableDkimKeyProvider(DkimKeyProvider):
    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        domain, selector = str(props["domain"]), str(props["selector"])
        path = paths.dkim(domain, selector)
        with _client() as client:
            try:
                current = kv.read(client, path)
            except SecretNotFound:
                current = None
            if current is not None and str(current.data.get("state")) in ADOPTED_STATES:
                stored = vkeys.read_public(client, path)
                dns_value = f"v=DKIM1; k=rsa; p={stored.public_key}"
                outs = {**_stored_outs(stored), "dns_value": dns_value,
                        "dns_strings": vkeys.dkim_txt_strings(dns_value),
                        "record_name": f"{selector}._domainkey.{domain}", "adopted": True}
                return pulumi.dynamic.CreateResult(outs["path"], {**props, **outs})
        if props.get("must_exist"):
            raise ConfigError("dkim_retired", f"{path} holds no key in service; nothing to keep publishing")
        return super().create(props)


class RotatableDkimKey(pulumi.dynamic.Resource, module="vault", name="DkimKey"):
    """``components.vault_keys.DkimKey`` that adopts a key `rotate.dkim` put in service (see module doc)."""

    path: pulumi.Output[str]
    version: pulumi.Output[int]
    selector: pulumi.Output[str]
    fingerprint: pulumi.Output[str]
    public_key: pulumi.Output[str]

    def __init__(self, name: str, *, domain: pulumi.Input[str], selector: pulumi.Input[str] | None = None,
                 purge: pulumi.Input[bool] = False, must_exist: bool = False,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        props: dict[str, Any] = {
            "domain": domain, "selector": selector, "bits": vkeys.DKIM_RSA_BITS, "rotation_trigger": "",
            "purge": purge, "path": None, "version": None, "fingerprint": None, "public_key": None,
            "dns_value": None, "dns_strings": None, "record_name": None,
        }
        if must_exist:
            props["must_exist"] = True
        super().__init__(RotatableDkimKeyProvider(), name, props, opts)


def retired_dkim_records(name: str, records: MailDnsRecords, inputs: MailDomainInputs, retired: list[str], *,
                         provider: str, settings: dict[str, Any]) -> list[DnsRecord]:
    """Keep publishing the TXT record of each retired selector (public key read from Vault)."""
    out: list[DnsRecord] = []
    for selector in retired:
        key = RotatableDkimKey(f"{name}-dkim-retired-{selector}", domain=inputs.domain, selector=selector,
                               must_exist=True, opts=pulumi.ResourceOptions(parent=records))

        def build(public_key: str, selector: str = selector) -> dict[str, Any]:
            full = build_record_set(replace(inputs, mail_ip="192.0.2.1", dkim_selector=selector,
                                            dkim_public_key=public_key))
            return next(r for r in full if r.name.startswith(f"{selector}._domainkey.")).to_dict()

        record_name = f"{name}-dns-{selector}._domainkey-txt"  # the name MailDnsRecords gave it when active
        out.append(DnsRecord(record_name, provider=provider, settings=settings, record=key.public_key.apply(build),
                             opts=pulumi.ResourceOptions(parent=records)))
    return out
