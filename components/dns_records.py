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

Preview: the record's data may not be known yet (the VPS IP, a rotated DKIM key). ``MailDnsRecords`` passes the
record with its name, type and TTL known (they depend only on plain inputs) and only the values that depend on an
unknown left unknown, so such a preview shows an update, not a replacement. ``check`` validates only a fully known
record; ``diff`` counts an unknown as changed (an unknown name or type -> replace, unknown values -> update).
Refresh (``read``) asks the DNS provider for the live RRset and reports it as both input and output, so the next
``up`` puts the desired values back; an unreachable DNS server fails the refresh (nothing to keep it honest with).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pulumi
import pulumi.dynamic

from components.unknowns import changed_keys, diff_result, is_unknown
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


def _diff_view(props: Mapping[str, Any]) -> dict[str, Any]:
    """What ``diff`` compares, flattened: identity (normalised name, type), data (TTL + normalised values), the
    provider and its settings. A part that is unknown (preview) stays unknown, so it counts as changed."""
    record, settings = props.get("record"), props.get("settings")
    view: dict[str, Any] = {"provider": props.get("provider"), "settings": settings,
                            "credential": props.get("credential"),
                            "settings.zone": settings.get("zone") if isinstance(settings, Mapping) else settings}
    if not is_unknown(record) and isinstance(record, Mapping):
        known = _record(props)
        return {**view, "record.name": known.name, "record.type": known.type,
                "record.data": (known.ttl, known.values)}
    parts = record if isinstance(record, Mapping) else dict.fromkeys(("name", "type", "ttl", "values"), record)
    name, rtype = parts.get("name"), parts.get("type")
    return {**view, "record.name": name if name is None or is_unknown(name) else validate.owner_name(str(name), "name"),
            "record.type": rtype if rtype is None or is_unknown(rtype) else str(rtype).upper(),
            "record.data": [parts.get("ttl"), parts.get("values")]}


def _outs(props: Mapping[str, Any], record: Record, adopted: bool) -> dict[str, Any]:
    outs = {key: props[key] for key in ("provider", "settings", "credential") if key in props}
    return {**outs, "record": record.to_dict(), "adopted": adopted}


class DnsRecordProvider(pulumi.dynamic.ResourceProvider):
    serialize_as_secret_always = False  # captures no secret; the credential travels as a (secret) input

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.CheckResult:
        failures: list[pulumi.dynamic.CheckFailure] = []
        if is_unknown(news.get("record")) or is_unknown(news.get("settings")) or is_unknown(news.get("provider")):
            return pulumi.dynamic.CheckResult(news, failures)  # checked once its inputs resolve (e.g. a new IP)
        try:
            record = _record(news)
            credential = news.get("credential")
            credential = "check-only" if not credential or is_unknown(credential) else credential
            provider_from({**news, "credential": credential}).check_in_zone(record)
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
        old, new = _diff_view(olds), _diff_view(news)
        replaces = changed_keys(old, new, ("record.name", "record.type", "provider", "settings.zone"))
        updates = changed_keys(old, new, ("record.data", "settings", "credential"))
        return diff_result(replaces, updates, delete_before_replace=True)

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
    validated at once, before any resource is registered. Each record's name, type and TTL are passed as plain
    values; its values wait only for what they use (found by building the set again with another placeholder IP,
    then another key): a preview with the IP or key unknown shows updates of just the records that use them.
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
        ip, key = "192.0.2.1", throwaway_public_key()
        shape = build_record_set(replace(inputs, mail_ip=ip, dkim_public_key=key))
        other_ip = build_record_set(replace(inputs, mail_ip="198.51.100.1", dkim_public_key=key))
        other_key = build_record_set(replace(inputs, mail_ip=ip, dkim_public_key=throwaway_public_key()))
        plain = plain_settings(settings)
        domain = validate.domain(inputs.domain)
        super().__init__("pm:dns:MailDnsRecords", name, None, opts)

        def pick(index: int) -> dict[str, Any]:
            plain_record = shape[index].to_dict()
            uses_ip, uses_key = (shape[index].values != o[index].values for o in (other_ip, other_key))
            if not uses_ip and not uses_key:
                return plain_record
            values = pulumi.Output.all(mail_ip if uses_ip else ip, dkim_public_key if uses_key else key)

            def build(args: list[Any]) -> list[str]:
                full = build_record_set(replace(inputs, mail_ip=str(args[0]), dkim_public_key=str(args[1])))
                if full[index].key != shape[index].key or full[index].ttl != shape[index].ttl:
                    raise ConfigError("dns records", f"record {index} changed identity: {full[index].describe()}")
                return list(full[index].values)
            return {**plain_record, "values": values.apply(build)}  # unknown only when what it uses is

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
