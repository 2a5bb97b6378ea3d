"""Typed views of what the API returns. Built defensively: unknown fields are kept (redacted) in ``raw``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hostwinds.errors import DuplicateLabelError
from toolkit.redact import REDACTOR, Secret, redact_mapping

READY_STATUS = "ACTIVE"
GONE_STATUSES = frozenset({"DELETED", "TERMINATED", "CANCELLED"})


def _text(data: Mapping[str, Any], *names: str) -> str:
    for name in names:
        value = data.get(name)
        if value not in (None, ""):
            return str(value)
    return ""


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
    # Secrets the API returns in plain text: kept wrapped, never shown in repr.
    password: Secret | None = field(default=None, repr=False, compare=False)
    configkey: Secret | None = field(default=None, repr=False, compare=False)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def ready(self) -> bool:
        return self.status.upper() == READY_STATUS and not self.task_state

    @property
    def gone(self) -> bool:
        """Terminated, deleted or cancelled: the account still lists it, but it is no machine any more."""
        return self.status in GONE_STATUSES

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
            ips = tuple(str(ip.get("ip", "")) if isinstance(ip, Mapping) else str(ip) for ip in ips_value)
        elif isinstance(ips_value, str) and ips_value:
            ips = tuple(part.strip() for part in ips_value.split(",") if part.strip())
        return cls(
            serviceid=serviceid,
            label=_text(data, "srvrname"),
            status=_text(data, "status").upper(),
            task_state=_text(data, "task_state"),
            main_ip=_text(data, "main_ip", "dedicatedip"),
            hostname=_text(data, "hostname"),
            location_id=_text(data, "location_id"),
            image=_text(data, "template_uuid", "image"),
            ips=ips,
            locked=str(data.get("locked", "")).lower() in ("1", "true", "yes"),
            password=Secret(password) if password else None,
            configkey=Secret(configkey) if configkey else None,
            raw=redact_mapping(data),
        )


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
            return cls(ip=_text(entry, "ip"), rdns=_text(entry, "rdns").rstrip("."))
        return cls(ip=str(entry))


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
    name: str
    raw: Any = field(default=None, repr=False, compare=False)

    @classmethod
    def from_api(cls, payload: Any) -> FirewallProfile:
        if isinstance(payload, str):
            return cls(name=payload, raw=payload)
        if isinstance(payload, Mapping):
            return cls(name=_text(payload, "name", "profile", "firewall"), raw=dict(payload))
        if isinstance(payload, list) and payload and isinstance(payload[0], Mapping):
            return cls.from_api(payload[0])
        return cls(name="", raw=payload)
