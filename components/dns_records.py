"""Pulumi wrapper of ``dnsrecords``: the dynamic resource ``DnsRecord`` (one RRset) and the component
``MailDnsRecords`` (the tenant's whole mail record set, one ``DnsRecord`` per record).

A thin layer: the provider (rfc2136, cloudflare or manual) is built inside each CRUD method from plain
settings, so the pickled dynamic provider holds no client, socket or secret.

**Credential** (TSIG secret / Cloudflare token): never plain in state. Either
- not given: the provider reads ``PM_DNS_TSIG_SECRET`` / ``CLOUDFLARE_API_TOKEN`` from the environment of the
  ``pulumi`` process at run time (the default; CI injects it), or
- given as ``credential``: it is wrapped with ``pulumi.Output.secret`` and listed in
  ``additional_secret_outputs``, so state holds it only encrypted.

Inputs: ``provider``, ``settings`` (server, port, zone, tsig_key_name, tsig_algorithm, cloudflare_zone_id,
cloudflare_api_url), ``record`` (name, type, ttl, values), optional ``credential``.
Outputs: the inputs plus ``adopted`` (the RRset already held this data when the resource was created).
Diff: provider, zone, name or type -> replace (another RRset); ttl, values or connection settings -> update
(the RRset is replaced in place). Refresh reads the live RRset; a vanished RRset reads as deleted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pulumi
import pulumi.dynamic

from dnsrecords.dkimcheck import throwaway_public_key
from dnsrecords.providers import DnsProvider, make_provider
from dnsrecords.records import Record
from dnsrecords.recordset import MailDomainInputs, build_record_set
from toolkit import validate
from toolkit.errors import ConfigError

SETTINGS_KEYS: tuple[str, ...] = (
    "server", "port", "zone", "tsig_key_name", "tsig_algorithm", "cloudflare_zone_id", "cloudflare_api_url",
)
IDENTITY_KEYS: tuple[str, ...] = ("name", "type")


def plain_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Only the known, non-secret connection settings (anything else is refused, secrets most of all)."""
    unknown = sorted(set(settings) - set(SETTINGS_KEYS))
    if unknown:
        raise ConfigError("dns settings", f"unknown keys {unknown}: secrets go in `credential` or the environment")
    return {key: settings[key] for key in SETTINGS_KEYS if settings.get(key) not in (None, "")}


def provider_from(props: Mapping[str, Any]) -> DnsProvider:
    return make_provider(str(props["provider"]), dict(props.get("settings") or {}), props.get("credential") or None)


def _record(props: Mapping[str, Any]) -> Record:
    return Record.from_dict(props["record"])


def _outs(props: Mapping[str, Any], record: Record, adopted: bool) -> dict[str, Any]:
    outs = {key: props[key] for key in ("provider", "settings", "credential") if key in props}
    return {**outs, "record": record.to_dict(), "adopted": adopted}


class DnsRecordProvider(pulumi.dynamic.ResourceProvider):
    serialize_as_secret_always = False  # captures no secret; the credential travels as a (secret) input

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.CheckResult:
        failures: list[pulumi.dynamic.CheckFailure] = []
        if not isinstance(news.get("record"), dict):
            return pulumi.dynamic.CheckResult(news, failures)  # unknown until its inputs resolve (e.g. a new IP)
        try:
            record = _record(news)
            provider_from({**news, "credential": news.get("credential") or "check-only"}).check_in_zone(record)
        except ConfigError as exc:
            failures.append(pulumi.dynamic.CheckFailure(exc.field, exc.problem))
        except (KeyError, TypeError, ValueError) as exc:
            failures.append(pulumi.dynamic.CheckFailure("record", f"malformed record input: {exc}"))
        return pulumi.dynamic.CheckResult(news, failures)

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        record = _record(props)
        change = provider_from(props).upsert(record)
        zone = props["settings"]["zone"]
        return pulumi.dynamic.CreateResult(
            id_=f"{zone}/{record.name}/{record.type}", outs=_outs(props, record, change.action == "unchanged"),
        )

    def read(self, id_: str, props: dict[str, Any]) -> pulumi.dynamic.ReadResult:
        wanted = _record(props)
        live = provider_from(props).get(wanted.name, wanted.type)
        if live is None:
            return pulumi.dynamic.ReadResult(None, {})
        outs = _outs(props, live, bool(props.get("adopted")))
        inputs: dict[str, Any] = {k: props[k] for k in ("provider", "settings", "credential") if k in props}
        return pulumi.dynamic.ReadResult(id_, outs, {**inputs, "record": live.to_dict()})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        old, new = _record(olds), _record(news)
        replaces = [f"record.{key}" for key in IDENTITY_KEYS if getattr(old, key) != getattr(new, key)]
        if olds.get("provider") != news.get("provider"):
            replaces.append("provider")
        if (olds.get("settings") or {}).get("zone") != (news.get("settings") or {}).get("zone"):
            replaces.append("settings.zone")
        changes = bool(replaces) or not old.same_data(new) or olds.get("settings") != news.get("settings") \
            or olds.get("credential") != news.get("credential")
        return pulumi.dynamic.DiffResult(changes=changes, replaces=replaces, stables=[],
                                         delete_before_replace=True)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        record = _record(news)
        provider_from(news).upsert(record)
        return pulumi.dynamic.UpdateResult(outs=_outs(news, record, bool(olds.get("adopted"))))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        provider_from(props).delete(_record(props))


class DnsRecord(pulumi.dynamic.Resource, module="dns", name="DnsRecord"):
    """One RRset at a DNS provider. See the module docstring for the credential rules."""

    record: pulumi.Output[dict[str, Any]]
    adopted: pulumi.Output[bool]

    def __init__(
        self,
        name: str,
        *,
        provider: str,
        settings: Mapping[str, Any],
        record: pulumi.Input[dict[str, Any]],
        credential: pulumi.Input[str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "provider": provider, "settings": plain_settings(settings), "record": record, "adopted": None,
            "credential": pulumi.Output.secret(credential) if credential is not None else None,
        }
        secret_opts = pulumi.ResourceOptions(additional_secret_outputs=["credential"])
        super().__init__(DnsRecordProvider(), name, props, pulumi.ResourceOptions.merge(secret_opts, opts))


def _resource_name(prefix: str, record: Record, domain: str) -> str:
    label = record.name.removesuffix(domain).rstrip(".") or "apex"
    return f"{prefix}-{label}-{record.type.lower()}"


class MailDnsRecords(pulumi.ComponentResource):
    """The tenant's mail record set: one ``DnsRecord`` per record of ``dnsrecords.build_record_set``.

    ``inputs`` holds the plain parts (domain, selector, DMARC stage, options); ``mail_ip`` and
    ``dkim_public_key`` may be outputs of other resources (the VPS, the Vault DKIM key). The set's shape
    (names and types) depends only on the plain parts, so it is known at preview time; the plain parts are
    validated at once, before any resource is registered.
    """

    records: dict[str, DnsRecord]

    def __init__(
        self,
        name: str,
        *,
        inputs: MailDomainInputs,
        mail_ip: pulumi.Input[str],
        dkim_public_key: pulumi.Input[str],
        provider: str,
        settings: Mapping[str, Any],
        credential: pulumi.Input[str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        shape = build_record_set(replace(inputs, mail_ip="192.0.2.1", dkim_public_key=throwaway_public_key()))
        plain = plain_settings(settings)
        domain = validate.domain(inputs.domain)
        super().__init__("pm:dns:MailDnsRecords", name, None, opts)
        values = pulumi.Output.all(mail_ip, dkim_public_key)

        def pick(index: int) -> pulumi.Output[dict[str, Any]]:
            def build(args: list[Any]) -> dict[str, Any]:
                full = build_record_set(replace(inputs, mail_ip=str(args[0]), dkim_public_key=str(args[1])))
                return full[index].to_dict()
            return values.apply(build)

        # Address records first: servers with integrity checks (BIND's default) refuse an MX, SRV or CNAME whose
        # target has no address yet, so records pointing at a name wait for that name's A record.
        self.records = {}
        addresses: list[pulumi.Resource] = []
        for first_pass in (True, False):
            for i, r in enumerate(shape):
                if (r.type == "A") != first_pass:
                    continue
                opts = pulumi.ResourceOptions(parent=self, depends_on=[] if first_pass else list(addresses))
                resource = DnsRecord(_resource_name(name, r, domain), provider=provider, settings=plain,
                                     record=pick(i), credential=credential, opts=opts)
                self.records[f"{r.name} {r.type}"] = resource
                if first_pass:
                    addresses.append(resource)
        self.register_outputs({"records": sorted(self.records)})
