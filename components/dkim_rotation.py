"""DKIM pieces of the tenant component that carry out the DKIM part of the day-2 intent (``fleet.intent``).

- ``DkimKeyState``: the lifecycle state of one selector's key in Vault (``active`` once the tenant's records and
  Mailu are verified, ``retired`` after a rotation, ``compromised`` after a migration for a compromise). It writes a
  new version of the key's record only when the state differs; ``read`` reports the state Vault holds, so a state
  changed beside the engine shows up as drift.
- ``retired_dkim_records``: the TXT record of every retired selector whose overlap has not ended, built from the
  public key the intent recorded and registered under the name (URN) the record had while its selector was active,
  so the engine keeps the published record instead of recreating it. When a task ends the overlap, the entry leaves
  the intent and the engine deletes the record. Burned selectors get no record: the same run that burns them
  removes their TXT.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pulumi
import pulumi.dynamic

from components.dns_records import DnsRecord, MailDnsRecords
from components.unknowns import changed_keys, diff_result
from components.vault_keys import _client
from dnsrecords.recordset import MailDomainInputs, build_record_set
from fleet.intent import RetiredDkim
from vault import keys as vkeys
from vault import kv, paths
from vault.claims import require_claim
from vault.errors import SecretNotFound

STATE_INPUTS = ("domain", "selector", "state")


class DkimKeyStateProvider(pulumi.dynamic.ResourceProvider):
    serialize_as_secret_always = False

    def _apply(self, props: dict[str, Any]) -> dict[str, Any]:
        with _client() as client:
            require_claim(client, str(props["domain"]), str(props.get("tenant_id") or ""))
            try:
                before = vkeys.set_dkim_state(client, str(props["domain"]), str(props["selector"]),
                                              str(props["state"]))
            except SecretNotFound:  # purged with its key (purge_secrets_on_destroy): nothing left to mark
                before = "purged"
        return {**props, "previous_state": before}

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        return pulumi.dynamic.CreateResult(f"{props['domain']}/{props['selector']}", self._apply(props))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        return diff_result(changed_keys(olds, news, ("domain", "selector")), changed_keys(olds, news, ("state",)),
                           delete_before_replace=False)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        return pulumi.dynamic.UpdateResult(self._apply(news))

    def read(self, id_: str, props: dict[str, Any]) -> pulumi.dynamic.ReadResult:
        with _client() as client:
            try:
                live = kv.read(client, paths.dkim(str(props["domain"]), str(props["selector"])))
            except SecretNotFound:  # purged: nothing can drift
                return pulumi.dynamic.ReadResult(id_, props, {k: props.get(k) for k in STATE_INPUTS})
        state = str(live.data.get("state", ""))
        return pulumi.dynamic.ReadResult(id_, {**props, "state": state},
                                         {**{k: props.get(k) for k in STATE_INPUTS}, "state": state})

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return None  # the last state stays recorded in Vault (audit)


class DkimKeyState(pulumi.dynamic.Resource, module="vault", name="DkimKeyState"):
    """The Vault state of the DKIM key ``dkim/<domain>/<selector>``."""

    state: pulumi.Output[str]
    previous_state: pulumi.Output[str]

    def __init__(self, name: str, *, domain: str, selector: str, state: vkeys.DkimState,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        props: dict[str, Any] = {"domain": domain, "selector": selector, "state": state.value,
                                 "previous_state": None}
        props["tenant_id"] = pulumi.get_stack()  # the domain owner = the stack (named after its tenant)
        super().__init__(DkimKeyStateProvider(), name, props, opts)


def dkim_record_name(component: str, selector: str) -> str:
    """The name ``MailDnsRecords`` gives a selector's TXT record (kept when the selector is retired)."""
    return f"{component}-dns-{selector}._domainkey-txt"


def retired_dkim_records(name: str, records: MailDnsRecords, inputs: MailDomainInputs,
                         retired: tuple[RetiredDkim, ...], *, provider: str,
                         settings: dict[str, Any]) -> list[DnsRecord]:
    """Keep publishing the TXT record of each retired selector in its overlap window."""
    out: list[DnsRecord] = []
    for entry in retired:
        full = build_record_set(replace(inputs, mail_ip="192.0.2.1", dkim_selector=entry.selector,
                                        dkim_public_key=entry.public_key))
        record = next(r for r in full if r.name.startswith(f"{entry.selector}._domainkey."))
        out.append(DnsRecord(dkim_record_name(name, entry.selector), provider=provider, settings=settings,
                             record=record.to_dict(), opts=pulumi.ResourceOptions(parent=records)))
    return out
