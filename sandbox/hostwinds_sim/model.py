"""The simulated account: instances, SSH keys, their state machine, and persistence to ``state.json``.

Every asynchronous change is a pending transition with an absolute due time (wall clock, so it survives a
restart of the simulator): BUILDING -> ACTIVE after ``build_delay``, shutdown -> STOPPED, boot -> ACTIVE,
rescue -> RESCUED, upgrade_server -> RESIZED (then confirm_upgrade/revert_upgrade -> ACTIVE), reinstall -> BUILDING
-> ACTIVE (fresh disk), terminate -> gone (dropped from listings, or listed as ``terminated_listed_as``).
``advance()`` applies due transitions, including their effect on the instance's SSH host.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import secrets
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sandbox.hostwinds_sim.hosts import HostManager
from sandbox.hostwinds_sim.settings import SimSettings

BILLING_CYCLES = ("hourly", "monthly", "quarterly", "semiannually", "annually", "biennially", "triennially")
RUNNING_STATUSES = frozenset({"ACTIVE", "RESIZED", "RESCUED"})
HUMAN_ACTIONS = {"add_instance": "Add Instance", "terminate": "Terminate Instance", "set_rdns": "Set rDNS"}
# OpenStack power states, sent as integers [doc: power_state is an integer]
POWER_RUNNING, POWER_SHUTDOWN = 1, 4


class SimApiError(Exception):
    """An error the API reports in its body (HTTP 200)."""

    def __init__(self, message: str, code: str | None = None, action: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.action = action


@dataclass
class SimInstance:
    serviceid: int
    srvrname: str
    status: str
    task_state: str
    main_ip: str
    template: str
    rid: str
    location_id: str
    password: str
    configkey: str
    billingcycle: str
    ssh_keys: list[str] = field(default_factory=list)
    authorized_keys: list[str] = field(default_factory=list)
    locked: bool = False
    firewall: str = "default"
    rdns: dict[str, str] = field(default_factory=dict)
    created_at: str = ""
    pending: dict[str, Any] | None = None
    upgrade_rid: str = ""  # ordered by upgrade_instance, applied by upgrade_server
    previous_rid: str = ""  # while RESIZED: what revert_upgrade goes back to
    gone: bool = False  # terminated but still listed (``terminated_listed_as``)

    def to_api(self, settings: SimSettings) -> dict[str, Any]:
        """The instance as get_instance(s) shows it, typed like the OpenAPI file (integers where it says so)."""
        plan = settings.plan(self.rid) or {}
        image = settings.image(self.template) or {"uuid": self.template, "name": self.template}
        return {
            "serviceid": self.serviceid,
            "srvrname": self.srvrname,
            "status": self.status,
            "task_state": self.task_state or None,
            "vm_state": self.status.lower(),
            "power_state": POWER_RUNNING if self.status in RUNNING_STATUSES else POWER_SHUTDOWN,
            "main_ip": self.main_ip,
            "ips": [self.main_ip],
            "ip_v6": "",
            "hostname": settings.hostname_template.format(serviceid=self.serviceid),
            "password": self.password,
            "configkey": self.configkey,
            "location_id": _int(self.location_id),
            "template_uuid": self.template,
            "image": image,
            "product_id": _int(self.rid),
            "product_name": plan.get("name", ""),
            "flavor": False,
            "ram": _int(plan.get("ram", "")),
            "cpu": _int(plan.get("cpu", "")),
            "disk": _int(plan.get("disk", "")),
            "billingcycle": self.billingcycle,
            "hourly": 1 if self.billingcycle == "hourly" else 0,
            "ssh_keys": ",".join(self.ssh_keys),
            "locked": 1 if self.locked else 0,
            "is_suspended": 0,
            "upgrade_available": 1,
            "created_at": self.created_at,
            "disp_status": self.status.title(),
        }


def _int(value: object) -> int | str:
    """Integers where the API sends integers; a value that is not one (an old state's) as it is."""
    text = str(value)
    return int(text) if text.isdigit() else text


def _now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")


class SimModel:
    def __init__(self, state_dir: Path, settings: SimSettings) -> None:
        self.state_dir = state_dir
        self.settings = settings
        self.hosts = HostManager(state_dir, settings.vps_hosts, settings.vps_port)
        self.lock = threading.RLock()
        self.instances: dict[int, SimInstance] = {}
        self.ssh_keys: dict[str, str] = {}
        self.next_serviceid = settings.first_serviceid
        state_dir.mkdir(parents=True, exist_ok=True)
        self._load()

    # --- persistence -------------------------------------------------------------------------------

    @property
    def state_file(self) -> Path:
        return self.state_dir / "state.json"

    def _load(self) -> None:
        if not self.state_file.exists():
            return
        data = json.loads(self.state_file.read_text())
        self.next_serviceid = int(data.get("next_serviceid", self.settings.first_serviceid))
        self.ssh_keys = dict(data.get("ssh_keys", {}))
        self.instances = {int(i["serviceid"]): SimInstance(**i) for i in data.get("instances", [])}

    def save(self) -> None:
        data = {
            "next_serviceid": self.next_serviceid,
            "ssh_keys": self.ssh_keys,
            "instances": [asdict(i) for i in self.instances.values()],
        }
        tmp = self.state_file.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=1)
        os.replace(tmp, self.state_file)

    def reconcile_hosts(self) -> None:
        """After a (re)start: run the hosts of running instances, remove hosts of instances that are gone."""
        with self.lock:
            self.advance()
            for serviceid in self.hosts.known():
                instance = self.instances.get(serviceid)
                if instance is None:
                    self.hosts.remove(serviceid)
                elif instance.status in RUNNING_STATUSES and instance.pending is None:
                    self.hosts.start(serviceid)

    # --- state machine -----------------------------------------------------------------------------

    def _schedule(self, inst: SimInstance, status: str, task_state: str, final: str, delay: float,
                  effect: str | None = None) -> None:
        inst.status = status
        inst.task_state = task_state
        inst.pending = {"status": final, "at": time.time() + delay, "effect": effect}

    def advance(self) -> None:
        """Apply every transition that is due."""
        with self.lock:
            now = time.time()
            changed = False
            for inst in list(self.instances.values()):
                pending = inst.pending
                if pending is None or pending["at"] > now:
                    continue
                inst.pending = None
                changed = True
                effect = pending.get("effect")
                if effect == "terminate":
                    self.hosts.remove(inst.serviceid)
                    if self.settings.terminated_listed_as:
                        inst.status, inst.task_state, inst.gone = self.settings.terminated_listed_as, "", True
                    else:
                        del self.instances[inst.serviceid]
                    continue
                self._apply_effect(inst, effect)
                inst.status = str(pending["status"])
                inst.task_state = ""
            if changed:
                self.save()

    def _apply_effect(self, inst: SimInstance, effect: str | None) -> None:
        sid = inst.serviceid
        if effect == "start_host":
            self.hosts.start(sid)
        elif effect == "stop_host":
            self.hosts.stop(sid)
        elif effect == "restart_host":
            self.hosts.stop(sid)
            self.hosts.start(sid)
        elif effect in ("wipe_host", "new_ip"):
            self.hosts.remove(sid)
            if effect == "new_ip":
                inst.main_ip = self.hosts.allocate(self._used_addresses())
            self.hosts.create(sid, inst.main_ip, inst.authorized_keys, self._short_hostname(sid))
            self.hosts.start(sid)

    def _used_addresses(self) -> set[str]:
        return {i.main_ip for i in self.instances.values()}

    def _short_hostname(self, serviceid: int) -> str:
        return self.settings.hostname_template.format(serviceid=serviceid).split(".")[0]

    # --- lookups used by actions ------------------------------------------------------------------------

    def instance(self, params: dict[str, Any], action: str) -> SimInstance:
        raw = params.get("serviceid", "")
        sid = int(raw) if isinstance(raw, str) and raw.isdigit() else -1
        inst = self.instances.get(sid)
        if inst is None or inst.gone or (inst.pending or {}).get("effect") == "terminate":
            raise SimApiError("A valid serviceid is required.", "402100", HUMAN_ACTIONS.get(action, _human(action)))
        return inst

    def new_instance(self, params: dict[str, Any]) -> SimInstance:
        settings = self.settings
        template = str(params.get("template", ""))
        rid = str(params.get("rid", ""))
        location = str(params.get("location_id", ""))
        cycle = str(params.get("billingcycle", "monthly"))
        self.check_template(template, "Add Instance")
        if settings.plan(rid) is None:
            raise SimApiError("Plan (rid) is invalid.", "501300", "Add Instance")
        if location not in {str(loc["id"]) for loc in settings.locations}:
            raise SimApiError("Location Id is invalid.", "501100", "Add Instance")
        if cycle not in BILLING_CYCLES:
            raise SimApiError("Billing cycle is invalid.", "501500", "Add Instance")
        if cycle == "hourly" and settings.hourly_disabled:
            raise SimApiError("Hourly products are disabled!", "501600", "Add Instance")
        key_names = params.get("keys", [])
        missing = [name for name in key_names if name not in self.ssh_keys]
        if missing:
            raise SimApiError(f"SSH key {missing[0]} not found.", "501400", "Add Instance")
        sid = self.next_serviceid
        self.next_serviceid += 1
        inst = SimInstance(
            serviceid=sid,
            srvrname=str(params.get("srvrname", "")) or f"hwsrv-{sid}",
            status="BUILDING",
            task_state="spawning",
            main_ip=self.hosts.allocate(self._used_addresses()),
            template=template,
            rid=rid,
            location_id=location,
            password=secrets.token_urlsafe(18),
            configkey=secrets.token_hex(16),
            billingcycle=cycle,
            ssh_keys=list(key_names),
            authorized_keys=[self.ssh_keys[name] for name in key_names if self.ssh_keys[name]],
            firewall=settings.default_firewall_profile,
            created_at=_now_iso(),
        )
        self.instances[sid] = inst
        self.hosts.create(sid, inst.main_ip, inst.authorized_keys, self._short_hostname(sid))
        self._schedule(inst, "BUILDING", "spawning", "ACTIVE", settings.build_delay, "start_host")
        return inst

    def check_template(self, template: str, action: str) -> None:
        """A template is an image uuid [doc] of a public image that is not retired."""
        if self.settings.images is None and template:
            return
        image = self.settings.image(template)
        if image is None or str(image.get("retired", 0)) in ("1", "True", "true"):
            raise SimApiError("Template is invalid.", "501200", action)

    def shutdown(self, stop_hosts: bool) -> None:
        with self.lock:
            with contextlib.suppress(OSError):
                self.save()
            if stop_hosts:
                self.hosts.stop_all()


def _human(action: str) -> str:
    return action.replace("_", " ").title()
