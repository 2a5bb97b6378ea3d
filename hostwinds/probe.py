"""A read-only look at a live Hostwinds account: what it answers, against each assumption the toolkit makes.

``probe`` calls only listing actions (``READ_ACTIONS``, plus an SSH-key listing action when one is configured or a
read-named candidate): the client it runs with sends through ``ReadOnlyTransport``, which refuses any other action
before it leaves the machine, so the probe can never create, change or delete anything, whatever a bug asks for.

Each ``Finding`` names an assumption (hostwinds/CONTRACT.md), what the account answered, what the toolkit's
setting is, and a verdict: ``ok`` (the answer fits), ``differs`` (change the setting or the stack), ``unknown``
(nothing read-only can show it; the first create checks it) or ``failed`` (the call itself failed).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hostwinds.catalog import Catalog, OfferNotFound, cpu_count, ram_gb
from hostwinds.client import EMPTY_ACCOUNT, HostwindsClient
from hostwinds.egress import global_ipv6_source, ipv4_source
from hostwinds.errors import AuthError, HostwindsApiError, HostwindsError, InvalidActionError
from hostwinds.keys import keys_from_api
from hostwinds.models import GONE_STATUSES, Instance, instance_ips_from_api, instances_from_api, profiles_from_api
from hostwinds.settings import ENV_SETTINGS, ClientSettings
from hostwinds.transport import RawReply, RequestsTransport, Transport

READ_ACTIONS = frozenset({
    "get_instances", "get_instance", "get_instance_ids", "get_instance_ips", "check_serviceid", "get_locations",
    "get_price_list", "get_public_images", "get_snapshots", "get_instance_firewall_profile",
})
SSH_KEY_LIST_CANDIDATES = ("get_ssh_keys",)  # [guess] tried only when no listing action is configured
_READ_NAME = re.compile(r"^(get|list)_[a-z0-9_]+$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
MAX_INSTANCES = 3


class ProbeRefused(HostwindsError):
    """The probe's transport refused an action that is not a listing (nothing was sent)."""


class ReadOnlyTransport:
    """Wraps a transport; sends only ``allowed`` actions (checked against the form's own ``action`` field too)."""

    def __init__(self, inner: Transport, allowed: frozenset[str]) -> None:
        self._inner = inner
        self.allowed = allowed
        self.sent: list[str] = []

    def post(self, fields: list[tuple[str, str]], action: str) -> RawReply:
        in_form = {value for name, value in fields if name == "action"}
        if action not in self.allowed or in_form != {action}:
            raise ProbeRefused(f"the read-only probe refused to send {action!r} (only listing actions are sent)")
        self.sent.append(action)
        return self._inner.post(fields, action)


@dataclass(frozen=True)
class Finding:
    topic: str
    answered: str
    setting: str
    verdict: str  # ok | differs | unknown | failed


@dataclass(frozen=True)
class Wanted:
    """What the stack files will name (checked to resolve), and the size tiers' minimums."""

    image: str
    location: str
    size: str
    firewall_profile: str
    tiers: Mapping[str, tuple[int, float]] = field(default_factory=dict)


@dataclass
class ProbeReport:
    url: str
    findings: list[Finding] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)

    def add(self, topic: str, answered: str, setting: str, verdict: str) -> None:
        self.findings.append(Finding(topic, answered, setting, verdict))

    @property
    def exit_code(self) -> int:
        verdicts = {f.verdict for f in self.findings}
        return 2 if "failed" in verdicts else 1 if "differs" in verdicts else 0


def read_only_client(settings: ClientSettings) -> tuple[HostwindsClient, ReadOnlyTransport]:
    allowed = READ_ACTIONS | {a for a in (settings.ssh_key_list_action, *SSH_KEY_LIST_CANDIDATES)
                              if a and _READ_NAME.match(a)}
    transport = ReadOnlyTransport(RequestsTransport(settings.url, settings.http_timeout), frozenset(allowed))
    return HostwindsClient(settings, transport=transport), transport


def _shape(payload: Any) -> str:
    if payload is None:
        return "null"
    if isinstance(payload, Mapping):
        return f"an object of {len(payload)}" if payload else "an empty object"
    if isinstance(payload, list):
        return f"a list of {len(payload)}" if payload else "an empty list"
    return type(payload).__name__


def _kinds(instances: list[Instance], name: str) -> str:
    return ", ".join(sorted({type(i.raw.get(name)).__name__ for i in instances if name in i.raw})) or "absent"


def probe(settings: ClientSettings, wanted: Wanted,
          client_factory: Callable[[ClientSettings], tuple[HostwindsClient, ReadOnlyTransport]] = read_only_client,
          ) -> ProbeReport:
    """Every finding (see the module docstring); stops after the first call if the key is refused."""
    client, transport = client_factory(settings)
    report = ProbeReport(settings.url)
    try:
        _transport(client, report)
        if not any(f.verdict == "failed" for f in report.findings):
            instances = _instances(client, report)
            _offers(client, report, wanted)
            _ssh_keys(client, report)
            _firewall(client, report, instances, wanted.firewall_profile)
            _ips(client, report, instances)
    finally:
        report.sent = list(transport.sent)
    return report


def _transport(client: HostwindsClient, report: ProbeReport) -> None:
    ipv4, ipv6 = ipv4_source(report.url), global_ipv6_source()
    origin = f"from {ipv4}" if ipv4 else "no IPv4 route"
    stack = f"; this machine also has IPv6 {ipv6} (never used)" if ipv6 else ""
    try:
        client.read("get_locations")
    except AuthError as exc:
        report.add("API key over IPv4", f"refused {origin}{stack}: {exc.api_message}", "IPv4 only", "failed")
        return
    except HostwindsError as exc:
        report.add("API reachable", str(exc), report.url, "failed")
        return
    report.add("API key over IPv4", f"accepted {origin}{stack}", "IPv4 only", "ok")


def _instances(client: HostwindsClient, report: ProbeReport) -> list[Instance]:
    empty_rule = "[] / {} / null / an error meaning none: read as empty"
    try:
        payload = client.read("get_instances")
    except HostwindsApiError as exc:
        fits = EMPTY_ACCOUNT.search(exc.api_message) is not None
        report.add("get_instances on this account", f"an error: {exc.api_message}", empty_rule,
                   "ok" if fits else "unknown")
        return []
    found = instances_from_api(payload)
    if not found:
        report.add("get_instances on this account", f"{_shape(payload)} (no instances)", empty_rule, "ok")
        return []
    statuses = sorted({i.status for i in found})
    gone = [i.serviceid for i in found if i.gone]
    report.add("get_instances", f"{len(found)} instance(s); status values {', '.join(statuses)}",
               f"ready = ACTIVE with an empty task_state; gone = {', '.join(sorted(GONE_STATUSES)[:4])}...", "ok")
    if gone:
        report.add("terminated instances listed", f"{len(gone)} listed in a terminal state ({', '.join(gone)})",
                   "a terminal state counts as gone", "ok")
    types = {name: _kinds(found, name) for name in ("locked", "power_state", "image", "template_uuid")}
    fits = types["image"] in ("dict", "str") and types["locked"] in ("int", "bool", "str")
    report.add("instance field types", ", ".join(f"{k}: {v}" for k, v in types.items()),
               "locked/power_state integers, image an object or a string", "ok" if fits else "differs")
    return found[:MAX_INSTANCES]


def _offers(client: HostwindsClient, report: ProbeReport, wanted: Wanted) -> None:
    try:
        catalog = Catalog.fetch(client)
        managed = client.list_plans(managed=True)
    except HostwindsError as exc:
        report.add("offer listings", f"error: {exc}", "get_public_images, get_locations, get_price_list", "failed")
        return
    uuids = sum(1 for i in catalog.images if _UUID.match(i.id))
    report.add("get_public_images", f"{len(catalog.images)} image(s), {uuids} with a UUID id",
               "template = the image's UUID", "ok" if catalog.images and uuids == len(catalog.images) else "differs")
    report.add("get_locations", ", ".join(f"{loc.name or '?'} (id {loc.id})" for loc in catalog.locations) or "none",
               "location_id = a listed id", "ok" if catalog.locations else "differs")
    unmanaged = {p.rid for p in catalog.plans}
    sizes = sum(1 for p in catalog.plans if ram_gb(p.ram) is not None and cpu_count(p.cpu) is not None)
    same = "the same rids" if unmanaged == {p.rid for p in managed} else "other rids"
    report.add("get_price_list managed=0", f"{len(catalog.plans)} unmanaged plan(s), {sizes} with readable cpu/ram; "
               f"managed=1 lists {len(managed)} ({same})",
               "unmanaged plans are asked for (managed=0)", "ok" if catalog.plans and sizes else "differs")
    checks: list[tuple[str, str, Callable[[], str]]] = [
        ("image", wanted.image, lambda: f"{catalog.image(wanted.image).name} ({catalog.image(wanted.image).id})"),
        ("location", wanted.location, lambda: catalog.location(wanted.location).name),
        *[("size", tier, lambda tier=tier: catalog.plan(tier, wanted.tiers).rid)
          for tier in dict.fromkeys([*wanted.tiers, wanted.size])],
    ]
    for topic, value, resolve in checks:
        try:
            report.add(f"stack {topic} {value!r}", f"resolves to {resolve()}", "names resolved through listings", "ok")
        except OfferNotFound as exc:
            report.add(f"stack {topic} {value!r}", exc.problem, "names resolved through listings", "differs")
    cycle = client.settings.billing_cycle
    report.add("billing cycle", "not shown by any listing (\"Hourly products are disabled!\" comes at create)",
               f"{ENV_SETTINGS['billing_cycle']}={cycle}", "unknown" if cycle == "hourly" else "ok")


def _ssh_keys(client: HostwindsClient, report: ProbeReport) -> None:
    settings = client.settings
    field_setting = f"{ENV_SETTINGS['ssh_key_field']}={settings.ssh_key_field} [guess]"
    for action in ([settings.ssh_key_list_action] if settings.ssh_key_list_action else SSH_KEY_LIST_CANDIDATES):
        try:
            listed = keys_from_api(client.read(action), settings.ssh_key_field)
        except InvalidActionError:
            report.add(f"SSH key listing {action!r}", "Invalid Action (no such listing)",
                       f"{ENV_SETTINGS['ssh_key_list_action']}={settings.ssh_key_list_action or '(none)'}",
                       "differs" if settings.ssh_key_list_action else "ok")
            continue
        except HostwindsError as exc:
            report.add(f"SSH key listing {action!r}", f"error: {exc}", "", "unknown")
            continue
        shown = [name for name, key in listed.items() if key]
        report.add(f"SSH key listing {action!r}", f"exists: {len(listed)} key(s), public keys shown for {len(shown)}",
                   f"{ENV_SETTINGS['ssh_key_list_action']}={settings.ssh_key_list_action or '(none)'}",
                   "ok" if settings.ssh_key_list_action == action else "differs")
    report.add("add_ssh_key public-key field", "no listing shows it (checked at the first create: root must accept "
               "the admin key)", field_setting, "unknown")


def _firewall(client: HostwindsClient, report: ProbeReport, instances: list[Instance], wanted: str) -> None:
    if not instances:
        report.add("get_instance_firewall_profile", "no instance to ask", f"profile {wanted!r}", "unknown")
        return
    for instance in instances:
        try:
            payload = client.read("get_instance_firewall_profile", {"serviceid": instance.serviceid})
        except HostwindsError as exc:
            report.add(f"firewall of {instance.serviceid}", f"error: {exc}", f"profile {wanted!r}", "unknown")
            continue
        found = profiles_from_api(payload)
        shape = "a map of id -> profile" if isinstance(payload, Mapping) and "name" not in payload else _shape(payload)
        names = ", ".join(f"{p.name!r} (chosen name {p.chosen_name!r})" for p in found) or "none readable"
        on = "on it" if any(p.matches(wanted) for p in found) else "not on it"
        report.add(f"firewall of {instance.serviceid}", f"{shape}: {names}; {wanted!r} {on}",
                   f"matched by chosen name {wanted!r}", "ok" if found else "differs")


def _ips(client: HostwindsClient, report: ProbeReport, instances: list[Instance]) -> None:
    if not instances:
        return
    try:
        payload = client.read("get_instance_ips", {"serviceid": instances[0].serviceid})
    except HostwindsError as exc:
        report.add("get_instance_ips", f"error: {exc}", "", "unknown")
        return
    entries = payload.get("IP Addresses", payload) if isinstance(payload, Mapping) else payload
    total = len(entries) if isinstance(entries, list | Mapping) else 0
    usable = instance_ips_from_api(payload)
    report.add("get_instance_ips", f"{total} entr(y/ies), {total - len(usable)} without an address",
               "entries without an address are skipped", "ok" if usable else "differs")
