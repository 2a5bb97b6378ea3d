"""Every dynamic provider at preview: ``check`` and ``diff`` with inputs the engine does not know yet.

The inputs go through the SDK's own deserializer as the dynamic provider host does for Check and Diff
(``rpc.deserialize_properties(..., keep_unknowns=True)``), so an unknown arrives as the real
``pulumi.output.Unknown`` and numbers as floats, exactly as ``pulumi preview`` hands them over. Each input (and some
nested ones) is made unknown in turn: ``check`` must not raise or fail on it, and ``diff`` must decide replace for
a replace key, update for an update key, and nothing for an input it does not compare; identical inputs give
``changes=False`` (not ``None``).
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi.dynamic
import pytest
from google.protobuf import struct_pb2
from pulumi.output import Unknown
from pulumi.runtime import rpc

import components
from components.dns_records import DnsRecordProvider, MailDnsRecords
from components.unknowns import changed_keys, is_unknown
from dnsrecords.recordset import MailDomainInputs
from mailu.config import MailuConfig
from tests.unit.test_dns_component import SETTINGS, Mocks
from tests.unit.test_dns_recordset import PUBLIC_KEY

TENANT_PUB = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl tenant"
CONFIG = MailuConfig(domain="acme.example", dkim_selector="pm20261124")
MAILU = {
    "host": "203.0.113.7", "port": 22, "known_hosts": [], "trust_on_first_use": True, "tenant_id": "acme1234corp",
    "tenant_public_keys": [TENANT_PUB], "mailu_config": CONFIG.as_dict(), "config_digest": CONFIG.digest(),
    "secret_refs": {"admin_ssh_path": "vps/acme1234corp/admin_ssh", "admin_ssh_version": 1,
                    "dkim_path": "dkim/acme.example/pm20261124", "dkim_version": 1,
                    "smtp_admin_path": "smtp/acme1234corp/admin", "smtp_admin_version": 1,
                    "mailu_secret_key_path": "smtp/acme1234corp/mailu", "mailu_secret_key_version": 1},
    "secrets_loader": "vault.mailu_secrets:load", "health_timeout": 600.0,
}
A_RECORD = {"name": "mail.example.com", "type": "A", "ttl": 300, "values": ["192.0.2.1"]}


@dataclass(frozen=True)
class Spec:
    """One provider's inputs (all valid) and how its diff must treat each input when that input is unknown.

    ``replace`` maps an input (dotted for nested) to the name ``diff`` reports in ``replaces``; ``update`` inputs
    give an update without replacement; ``either`` inputs must give a change (the replace/update choice belongs
    to another decision); ``ignored`` inputs are not compared (unknown or not, no change)."""

    inputs: dict[str, Any]
    replace: dict[str, list[str]] = field(default_factory=dict)
    update: tuple[str, ...] = ()
    either: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()


VAULT_SSH = Spec({"tenant_id": "acme1234corp", "kind": "admin_ssh", "algorithm": "rsa", "bits": 4096,
                  "rotation_days": 90, "rotation_trigger": "", "revoked": False, "purge": False},
                 replace={"tenant_id": ["tenant_id"], "kind": ["kind"]},
                 update=("algorithm", "bits", "rotation_days", "rotation_trigger", "revoked", "purge"))
VAULT_DKIM = Spec({"domain": "acme.example", "selector": "pm20261124", "nonce": "abc", "bits": 2048,
                   "rotation_trigger": "", "purge": False},
                  replace={"domain": ["domain"], "selector": ["selector"], "bits": ["bits"],
                           "rotation_trigger": ["rotation_trigger"]},
                  update=("purge",), ignored=("nonce",))
SPECS: dict[str, Spec] = {
    "DnsRecordProvider": Spec(
        {"provider": "rfc2136", "settings": SETTINGS, "record": A_RECORD, "credential": "tsig-secret-value"},
        replace={"provider": ["provider"], "settings": ["settings.zone"], "settings.zone": ["settings.zone"],
                 "record": ["record.name", "record.type"], "record.name": ["record.name"],
                 "record.type": ["record.type"]},
        update=("settings.server", "credential", "record.ttl", "record.values", "record.values.0"),
    ),
    "SshKeyPairProvider": VAULT_SSH,
    "DkimKeyProvider": VAULT_DKIM,
    "DkimKeyStateProvider": Spec({"domain": "acme.example", "selector": "pm20261124", "state": "active"},
                                 replace={"domain": ["domain"], "selector": ["selector"]}, update=("state",)),
    "SmtpCredentialProvider": Spec(
        {"tenant_id": "acme1234corp", "domain": "acme.example", "webmail_url": "https://mail.acme.example/webmail",
         "rotation_trigger": "", "purge": False},
        replace={"tenant_id": ["tenant_id"]}, update=("domain", "webmail_url", "rotation_trigger", "purge")),
    "InstanceProvider": Spec(
        {"label": "pm-acme-1", "location_id": "1", "plan_id": "1002", "image": "ubuntu-22.04",
         "ssh_key_names": ["pm-acme-admin"], "billing_cycle": "hourly", "api_url": "http://127.0.0.1:9/api",
         "poll_interval": 1.0, "poll_timeout": 60.0, "retry_base_delay": 0.1, "generation": 1,
         "wipe_on_delete": True, "wipe_key_path": "vps/acme/admin_ssh", "wipe_timeout": 20.0},
        replace={k: [k] for k in ("location_id", "plan_id", "image", "generation")},
        update=("label", "wipe_on_delete", "wipe_key_path", "wipe_timeout"),
        ignored=("ssh_key_names", "ssh_key_names.0", "billing_cycle", "api_url", "poll_interval", "poll_timeout",
                 "retry_base_delay"),
    ),
    "_SshKeyProvider": Spec({"name": "pm-acme-admin", "public_key": TENANT_PUB, "api_url": "http://127.0.0.1:9/api"},
                            replace={"name": ["name"], "public_key": ["public_key"]}, ignored=("api_url",)),
    "_MailNetworkingProvider": Spec(
        {"serviceid": "5", "ip": "203.0.113.7", "rdns": "mail.acme.example", "firewall_profile": "mail",
         "api_url": "http://127.0.0.1:9/api"},
        replace={"serviceid": ["serviceid"]}, update=("ip", "rdns", "firewall_profile"), ignored=("api_url",)),
    "MailuInstallProvider": Spec(
        MAILU, replace={"host": ["host"], "port": ["port"]},
        update=("known_hosts", "trust_on_first_use", "tenant_id", "tenant_public_keys", "tenant_public_keys.0",
                "mailu_config", "mailu_config.domain", "config_digest", "secret_refs", "secret_refs.dkim_version",
                "secrets_loader", "health_timeout")),
    "_MailuSecretKeyProvider": Spec({"tenant_id": "acme1234corp", "rotation_trigger": "", "purge": False},
                                    replace={"tenant_id": ["tenant_id"]}, update=("rotation_trigger", "purge")),
    "_MailDataCopyProvider": Spec(
        {"source_host": "203.0.113.7", "dest_host": "203.0.113.8", "admin_key_path": "vps/acme/admin_ssh",
         "port": 22, "paths": ["/mailu/mail", "/mailu/data"], "connect_timeout": 20.0},
        replace={k: [k] for k in ("source_host", "dest_host", "port", "paths")}, update=("admin_key_path",
                                                                                          "connect_timeout")),
    "_VerificationProvider": Spec(
        {"tenant_config": "{}", "mail_ip": "203.0.113.7", "serviceid": "5", "dkim_version": 1,
         "records": ["acme.example MX"]},
        update=("tenant_config", "mail_ip", "serviceid", "dkim_version", "records", "records.0")),
    "RootAccessProvider": Spec(
        {"host": "203.0.113.7", "port": 22, "admin_path": "vps/acme1234corp/admin_ssh", "admin_version": 2,
         "connect_versions": [1], "authorized": [TENANT_PUB]},
        replace={"host": ["host"], "port": ["port"]},
        update=("admin_path", "admin_version", "authorized", "authorized.0"),
        ignored=("connect_versions", "connect_versions.0")),
    "IntentRecordProvider": Spec({"tenant_id": "acme1234corp", "purge": False},
                                 replace={"tenant_id": ["tenant_id"]}, update=("purge",)),
    "TenantClaimsProvider": Spec(
        {"tenant_id": "acme1234corp", "domain": "acme.example", "holder": "org/acme", "stack": "acme",
         "purge": False},
        replace={"tenant_id": ["tenant_id"]}, update=("domain", "holder", "stack", "purge")),
    # the Vault cluster stack (platform/vault)
    "_SecretsProvider": Spec({"cluster_name": "pm-vault", "ca_generation": 1, "seal": "shamir"},
                             replace={"cluster_name": ["cluster_name"], "ca_generation": ["ca_generation"]},
                             ignored=("seal",)),  # a known change of the seal is refused (a seal migration)
    "_NodeProvider": Spec(
        {"host": "203.0.113.10", "node_id": "node0", "cluster_dns": "vault.example.net",
         "peers": ["203.0.113.11", "203.0.113.12"], "ca_cert": "CA PEM", "ca_key": "CA KEY", "ssh_private_key": "KEY",
         "openbao": {"kind": "release", "version": "2.4.1", "sha256": "0" * 64}, "cert_generation": 1,
         "seal_key": "", "seal_key_id": ""},
        replace={"host": ["host"], "node_id": ["node_id"]},
        update=("openbao", "ca_cert", "cert_generation", "cluster_dns", "seal_key_id"),
        ignored=("peers", "peers.0", "ca_key", "ssh_private_key", "seal_key")),
    "_InitProvider": Spec(  # initialisation happens once: nothing it was given is compared afterwards
        {"addresses": ["https://203.0.113.10:8200"], "ca_cert": "CA PEM", "pgp_keys": ["PGP"],
         "fingerprints": ["F" * 40], "threshold": 3, "shares_file": "shares/prod.json", "unseal_wait": 600.0,
         "seal": "shamir"},
        ignored=("addresses", "ca_cert", "pgp_keys", "fingerprints", "threshold", "shares_file", "unseal_wait",
                 "seal")),
    "_RolloutProvider": Spec(  # the running cluster follows its nodes; credentials and waits are not the cluster
        {"nodes": [{"node_id": "n0", "host": "203.0.113.10", "address": "https://203.0.113.10:8200",
                    "digest": "d" * 64}], "ca_cert": "CA PEM", "operator_role_id": "role",
         "operator_secret_id": "secret", "ssh_private_key": "KEY", "shares_file": "shares/prod.json",
         "unseal_wait": 600.0},
        update=("nodes",),
        ignored=("ca_cert", "operator_role_id", "operator_secret_id", "ssh_private_key", "shares_file",
                 "unseal_wait")),
}


def _providers() -> dict[str, type[pulumi.dynamic.ResourceProvider]]:
    """Every dynamic provider class defined in ``components``."""
    found: dict[str, type[pulumi.dynamic.ResourceProvider]] = {}
    for info in pkgutil.iter_modules(components.__path__, "components."):
        module = importlib.import_module(info.name)
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, pulumi.dynamic.ResourceProvider) and cls.__module__ == module.__name__:
                found[name] = cls
    return found


PROVIDERS = _providers()


def engine_view(props: dict[str, Any], unknown: str | None = None) -> dict[str, Any]:
    """``props`` as the dynamic provider host hands them to check/diff at preview, with the input at the dotted
    path ``unknown`` (if any) replaced by the engine's unknown sentinel first."""
    struct = struct_pb2.Struct()
    struct.update(_with_sentinel(props, unknown.split(".") if unknown else []))
    view: dict[str, Any] = rpc.deserialize_properties(struct, keep_unknowns=True)
    return view


def _with_sentinel(value: Any, path: list[str]) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(value, list):
        index = int(head)
        return [rpc.UNKNOWN if i == index and not rest else _with_sentinel(v, rest) if i == index else v
                for i, v in enumerate(value)]
    return {k: (rpc.UNKNOWN if not rest else _with_sentinel(v, rest)) if k == head else v for k, v in value.items()}


def _cases() -> list[tuple[str, str, str]]:
    cases = []
    for name, spec in SPECS.items():
        for key in [*spec.replace, *spec.update, *spec.either, *spec.ignored]:
            kind = ("replace" if key in spec.replace else "update" if key in spec.update
                    else "either" if key in spec.either else "ignored")
            cases.append((name, key, kind))
    return cases


def test_every_provider_has_a_spec_covering_each_input() -> None:
    assert set(PROVIDERS) <= set(SPECS), f"add a Spec for {sorted(set(PROVIDERS) - set(SPECS))}"
    for name, spec in SPECS.items():
        listed = {*spec.replace, *spec.update, *spec.either, *spec.ignored}
        assert set(spec.inputs) <= listed, f"{name}: say how diff treats {sorted(set(spec.inputs) - listed)}"


@pytest.mark.parametrize(("name", "key", "kind"), _cases(), ids=lambda v: str(v))
def test_unknown_input_in_check_and_diff(name: str, key: str, kind: str) -> None:
    if name not in PROVIDERS:
        pytest.skip(f"{name} is not defined in this tree")
    provider, spec = PROVIDERS[name](), SPECS[name]
    olds, news = engine_view(spec.inputs), engine_view(spec.inputs, key)
    assert is_unknown(news)

    for before in ({}, olds):  # create and update
        checked = provider.check(before, news)
        assert checked.failures == [], f"{name}.check failed on unknown {key}: {checked.failures}"

    result = provider.diff("id", olds, news)
    if kind == "replace":
        assert result.changes is True and set(spec.replace[key]) <= set(result.replaces or [])
    elif kind == "update":
        assert result.changes is True and not result.replaces
    elif kind == "either":
        assert result.changes is True
    else:
        assert result.changes is False and not result.replaces


@pytest.mark.parametrize("name", sorted(SPECS))
def test_identical_inputs_are_explicitly_unchanged(name: str) -> None:
    if name not in PROVIDERS:
        pytest.skip(f"{name} is not defined in this tree")
    spec = SPECS[name]
    provider = PROVIDERS[name]()
    assert provider.check({}, engine_view(spec.inputs)).failures == []
    result = provider.diff("id", engine_view(spec.inputs), engine_view(spec.inputs))
    assert result.changes is False and not result.replaces


# --- the observed crash: `pulumi up --refresh` preview after a day-2 task ---------------------------------------------

def test_dns_diff_with_an_unknown_record_does_not_crash_and_replaces() -> None:
    """Was ``TypeError: 'Unknown' object is not subscriptable`` in ``_record`` (a record built from an output)."""
    olds = engine_view({"provider": "rfc2136", "settings": SETTINGS, "record": A_RECORD})
    news = {**olds, "record": Unknown()}
    provider = DnsRecordProvider()
    assert provider.check(olds, news).failures == []
    result = provider.diff("example.com/mail.example.com/A", olds, news)
    assert result.changes is True and result.replaces == ["record.name", "record.type"]


def _unknown_output() -> pulumi.Output[Any]:
    loop = asyncio.get_event_loop()

    def done(value: Any) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = loop.create_future()
        future.set_result(value)
        return future

    return pulumi.Output(set(), done(None), done(False), done(False))


def test_record_set_at_preview_keeps_identity_known_so_a_new_ip_is_an_update() -> None:
    """``MailDnsRecords`` with the VPS IP unknown (a VPS being replaced): each record goes to the engine with its
    name, type and TTL known, so the provider's diff shows updates of the records using the IP and nothing for the
    others, never a delete-and-recreate of the whole set."""
    mocks = Mocks()
    pulumi.runtime.set_mocks(mocks, preview=True)
    inputs = MailDomainInputs("example.com", "", "pm20261124", "")

    @pulumi.runtime.test  # type: ignore[misc]
    def program() -> pulumi.Output[Any]:
        MailDnsRecords("acme", inputs=inputs, mail_ip=_unknown_output(), provider="rfc2136", settings=SETTINGS,
                       dkim_public_key=pulumi.Output.from_input(PUBLIC_KEY))
        return pulumi.Output.from_input(True)

    try:
        program()
    finally:
        pulumi.runtime.set_mocks(Mocks(), preview=False)
    from dataclasses import replace

    from dnsrecords.recordset import build_record_set
    deployed = {(r.name, r.type): r.to_dict() for r in build_record_set(
        replace(inputs, mail_ip="192.0.2.10", dkim_public_key=PUBLIC_KEY))}
    provider, decisions = DnsRecordProvider(), {}
    for args in [a for a in mocks.created if a.typ == "pulumi-python:dynamic/dns:DnsRecord"]:
        news = dict(args.inputs)
        key = (news["record"]["name"], news["record"]["type"])
        olds = engine_view({"provider": "rfc2136", "settings": SETTINGS, "record": deployed[key]})
        assert provider.check(olds, news).failures == []
        result = provider.diff("id", olds, news)
        assert not result.replaces, key
        decisions[key] = result.changes
    assert decisions[("mail.example.com", "A")] is True and decisions[("example.com", "TXT")] is True  # A, SPF
    assert decisions[("example.com", "MX")] is False and decisions[("_dmarc.example.com", "TXT")] is False
    assert decisions[("pm20261124._domainkey.example.com", "TXT")] is False  # the key is known here


# --- the helper itself ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "unknown"), [
    (Unknown(), True), (rpc.UNKNOWN, True), ({"a": [1, {"b": Unknown()}]}, True), ([Unknown()], True),
    ((1, Unknown()), True), ("", False), (None, False), ({"a": [1, "x"]}, False), (0, False),
])
def test_is_unknown_looks_inside(value: Any, unknown: bool) -> None:
    assert is_unknown(value) is unknown


def test_changed_keys_counts_unknown_on_either_side_and_normalises() -> None:
    as_text: Callable[[dict[str, Any], str], Any] = lambda props, key: str(props.get(key))  # noqa: E731
    assert changed_keys({"a": 1, "b": 2}, {"a": 1, "b": Unknown()}, ("a", "b")) == ["b"]
    assert changed_keys({"a": Unknown()}, {"a": 1}, ("a",)) == ["a"]
    assert changed_keys({"a": 1}, {"a": "1"}, ("a",), value=as_text) == []
    assert changed_keys({"a": "x"}, {"a": Unknown()}, ("a",), value=as_text) == ["a"]
