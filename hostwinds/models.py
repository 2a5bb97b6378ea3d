"""Typed views of what the API returns. Built defensively: unknown fields are kept (redacted) in ``raw``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hostwinds.errors import DuplicateLabelError, HostwindsError
from toolkit.redact import REDACTOR, Secret, redact_mapping

READY_STATUS = "ACTIVE"
GONE_STATUSES = frozenset({
    "DELETED", "SOFT_DELETED", "SOFT-DELETE", "SOFT_DELETE", "TERMINATED", "CANCELLED", "CANCELED", "FRAUD",
    "EXPIRED", "REMOVED", "DESTROYED",
})
"""Terminal states [guess: no public source shows how a deleted instance is listed]: the billing system's
(Terminated, Cancelled, Fraud) and OpenStack's (deleted, soft-deleted), in ``status``, ``vm_state`` or
``disp_status``. An instance in any of them, or absent, is gone."""


def _text(data: Mapping[str, Any], *names: str) -> str:
    for name in names:
        value = data.get(name)
        if value not in (None, "") and not isinstance(value, Mapping | list):
            return str(value)
    return ""


def _flag(value: object) -> bool:
    """``locked``/``retired``-style flags: the API sends integers (0/1) [doc]; strings and booleans are accepted."""
    return str(value).strip().lower() in ("1", "true", "yes")


def _state(value: object) -> str:
    return str(value or "").strip().upper().replace(" ", "_")


@dataclass(frozen=True)
class Instance:
    serviceid: str
    label: str
    status: str
    task_state: str
    main_ip: str
    hostname: str
    location_id: str
    image: str
    ips: tuple[str, ...] = ()
    locked: bool = False
    image_name: str = ""
    vm_state: str = ""
    power_state: str = ""
    # Secrets the API returns in plain text: kept wrapped, never shown in repr.
    password: Secret | None = field(default=None, repr=False, compare=False)
    configkey: Secret | None = field(default=None, repr=False, compare=False)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def ready(self) -> bool:
        return self.status.upper() == READY_STATUS and not self.task_state and not self.gone

    @property
    def gone(self) -> bool:
        """In a terminal state (``GONE_STATUSES`` in status, vm_state or disp_status): listed, but no machine."""
        display = _state(self.raw.get("disp_status")) if isinstance(self.raw, Mapping) else ""
        return bool({self.status, self.vm_state, display} & GONE_STATUSES)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Instance:
        if not isinstance(data, Mapping):
            raise TypeError(f"instance entry must be an object, got {type(data).__name__}")
        password = _text(data, "password")
        configkey = _text(data, "configkey")
        REDACTOR.register(password, configkey)
        serviceid = _text(data, "serviceid", "id")
        if not serviceid:
            raise ValueError(f"instance entry without serviceid (fields: {sorted(data)[:10]})")
        ips_value = data.get("ips")
        ips: tuple[str, ...] = ()
        if isinstance(ips_value, list):
            ips = tuple(str(ip.get("ip") or "") if isinstance(ip, Mapping) else str(ip or "") for ip in ips_value)
        elif isinstance(ips_value, str) and ips_value:
            ips = tuple(part.strip() for part in ips_value.split(","))
        image = data.get("image")
        image_info: Mapping[str, Any] = image if isinstance(image, Mapping) else {}  # an object [doc], or a string
        return cls(
            serviceid=serviceid,
            label=_text(data, "srvrname"),
            status=_state(_text(data, "status")),
            task_state=_text(data, "task_state"),
            main_ip=_text(data, "main_ip", "dedicatedip"),
            hostname=_text(data, "hostname"),
            location_id=_text(data, "location_id"),
            image=_text(data, "template_uuid") or _text(image_info, "uuid", "id") or _text(data, "image"),
            ips=tuple(ip for ip in ips if ip),  # entries without an address are skipped
            locked=_flag(data.get("locked", "")),
            image_name=_text(image_info, "name", "title"),
            vm_state=_state(_text(data, "vm_state")),
            power_state=_text(data, "power_state"),
            password=Secret(password) if password else None,
            configkey=Secret(configkey) if configkey else None,
            raw=redact_mapping(data),
        )


def instances_from_api(payload: Any) -> list[Instance]:
    """The instances of a ``get_instances`` payload: a list, a map of them, or null/false/"" (none: how an empty
    account answers is not shown by any source)."""
    if payload in (None, False, "", 0):
        return []
    if isinstance(payload, Mapping):
        payload = list(payload.values())
    if not isinstance(payload, list):
        raise HostwindsError(f"Hostwinds get_instances: expected a list, got {type(payload).__name__}")
    return [Instance.from_api(item) for item in payload if isinstance(item, Mapping)]


def with_serviceid(instances: Iterable[Instance], serviceid: str) -> Instance | None:
    """The instance ``serviceid`` in a listing (gone ones included, so callers can report them), else None."""
    return next((i for i in instances if i.serviceid == serviceid), None)


def by_label(instances: Iterable[Instance], label: str) -> Instance | None:
    """The one live instance labelled ``label`` in a listing, else None; two or more is an error (labels are how a
    re-run finds its instance, so they must be unique)."""
    matches = [i for i in instances if i.label == label and not i.gone]
    if len(matches) > 1:
        ids = ", ".join(i.serviceid for i in matches)
        raise DuplicateLabelError(f"{len(matches)} instances are labelled {label!r} (serviceids {ids}); "
                                  "terminate the extra ones by hand")
    return matches[0] if matches else None


@dataclass(frozen=True)
class InstanceIp:
    """One entry of ``get_instance_ips``: an address and its reverse DNS name ("" when none is set)."""

    ip: str
    rdns: str = ""

    @classmethod
    def from_api(cls, entry: object) -> InstanceIp:
        if isinstance(entry, Mapping):
            return cls(ip=_text(entry, "ip", "address", "ip_address"), rdns=_text(entry, "rdns", "ptr").rstrip("."))
        return cls(ip=str(entry) if isinstance(entry, str | int) else "")


def instance_ips_from_api(payload: Any) -> list[InstanceIp]:
    """``get_instance_ips`` replies, defensively: ``{"IP Addresses": [...]}`` [seen], a bare list [doc], or a map;
    items without an address are skipped (no source shows whether they occur)."""
    entries = payload.get("IP Addresses", payload.get("ips", [])) if isinstance(payload, Mapping) else payload
    if isinstance(entries, Mapping):
        entries = list(entries.values())
    if not isinstance(entries, list):
        return []
    return [found for found in (InstanceIp.from_api(entry) for entry in entries) if found.ip]


@dataclass(frozen=True)
class Location:
    id: str
    name: str
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, data: Mapping[str, Any], fallback_id: str = "") -> Location:
        return cls(id=_text(data, "id", "location_id") or fallback_id,
                   name=_text(data, "name", "location", "title"), raw=dict(data))


@dataclass(frozen=True)
class Image:
    """An OS image `add_instance` accepts: ``id`` is the value to pass as ``template`` (a UUID on the live API)."""

    id: str
    name: str
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def retired(self) -> bool:
        return _flag(self.raw.get("retired", 0))

    @classmethod
    def from_api(cls, data: Mapping[str, Any], fallback_id: str = "") -> Image:
        return cls(id=_text(data, "uuid", "template_uuid", "template", "id") or fallback_id,
                   name=_text(data, "name", "title", "description", "slug"), raw=dict(data))


@dataclass(frozen=True)
class Plan:
    rid: str
    name: str
    ram: str = ""
    cpu: str = ""
    disk: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, data: Mapping[str, Any], fallback_rid: str = "") -> Plan:
        return cls(rid=_text(data, "rid", "id") or fallback_rid, name=_text(data, "name", "title"),
                   ram=_text(data, "ram", "memory"), cpu=_text(data, "cpu", "vcpu"), disk=_text(data, "disk"),
                   raw=dict(data))


@dataclass(frozen=True)
class FirewallProfile:
    """A firewall profile. Made in the portal, its name is "<unique id> <chosen name>" (official portal guide), so
    it is matched by the chosen name (``matches``), never compared whole."""

    name: str
    id: str = ""
    raw: Any = field(default=None, repr=False, compare=False)

    @property
    def chosen_name(self) -> str:
        """The name without its unique-id prefix ("a1b2c3d4 mail" -> "mail"); the whole name if it has none."""
        head, _, rest = self.name.strip().partition(" ")
        return rest.strip() if rest.strip() and any(ch.isdigit() for ch in head) else self.name.strip()

    def matches(self, wanted: str) -> bool:
        """True if ``wanted`` is this profile's chosen name, its whole name or its id (case-insensitive)."""
        wanted = wanted.strip().casefold()
        return bool(wanted) and wanted in {self.name.strip().casefold(), self.chosen_name.casefold(),
                                           self.id.strip().casefold()}

    @classmethod
    def from_api(cls, payload: Any) -> FirewallProfile:
        """The instance's profile: the first of ``profiles_from_api`` (an empty name when there is none)."""
        found = profiles_from_api(payload)
        return found[0] if found else cls(name="", raw=payload)


def profiles_from_api(payload: Any) -> list[FirewallProfile]:
    """``get_instance_firewall_profile`` replies in every shape the sources show: one object ``{id, name,
    description, security_group_rules}`` [doc], a map of id -> such objects [doc, the OpenAPI file], a list of them,
    or a bare name."""
    if isinstance(payload, str):
        return [FirewallProfile(name=payload, raw=payload)] if payload.strip() else []
    if isinstance(payload, list):
        return [p for item in payload for p in profiles_from_api(item)]
    if not isinstance(payload, Mapping):
        return []
    if any(key in payload for key in ("name", "profile", "firewall", "security_group_rules")):
        name = _text(payload, "name", "profile", "firewall")
        return [FirewallProfile(name=name, id=_text(payload, "id", "uuid"), raw=dict(payload))] if name else []
    found: list[FirewallProfile] = []
    for key, value in payload.items():  # a map keyed by profile id
        if isinstance(value, Mapping):
            name = _text(value, "name", "profile")
            if name:
                found.append(FirewallProfile(name=name, id=_text(value, "id", "uuid") or str(key), raw=dict(value)))
    return found
