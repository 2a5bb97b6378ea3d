"""The API actions the simulator serves: each takes the model and the form fields and returns the reply body.

Reads answer ``{"success": ...}``; changes answer a list of result objects and are applied asynchronously
through the model's state machine. Errors are raised as ``SimApiError`` (the server turns them into bodies).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from typing import Any

from sandbox.hostwinds_sim.model import HUMAN_ACTIONS, RUNNING_STATUSES, SimApiError, SimModel, _human

Handler = Callable[[SimModel, dict[str, Any]], Any]
_RDNS = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}\.?$", re.I)
_KEY_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def success(action: str, message: str = "Success") -> list[dict[str, Any]]:
    return [{"result": "success", "action": HUMAN_ACTIONS.get(action, _human(action)), "message": message}]


def noop_reply(action: str) -> Any:
    """The reply a change would get, for the ``noop_success`` fault (nothing is applied)."""
    if action == "add_instance":
        return _add_instance_reply(None)
    return success(action)


# --- reads ---------------------------------------------------------------------------------------------

def get_instances(model: SimModel, params: dict[str, Any]) -> Any:
    location = params.get("location_id")
    found = [i.to_api(model.settings) for i in model.instances.values() if not location or i.location_id == location]
    if found:
        return {"success": found}
    empty = model.settings.empty_account_reply  # [guess] what an empty account answers
    if empty == "error":
        raise SimApiError("No instances found.", "404100", "Get Instances")
    return {"success": {"list": [], "object": {}, "null": None}[empty]}


def get_instance(model: SimModel, params: dict[str, Any]) -> Any:
    return {"success": model.instance(params, "get_instance").to_api(model.settings)}


def get_instance_ids(model: SimModel, params: dict[str, Any]) -> Any:
    search = str(params.get("search", ""))
    items = [
        {"id": i.serviceid, "srvrname": i.srvrname, "dedicatedip": i.main_ip,
         "hostname": model.settings.hostname_template.format(serviceid=i.serviceid)}
        for i in model.instances.values()
        if search in i.srvrname and (not params.get("location_id") or i.location_id == params["location_id"])
    ]
    limit = int(params.get("limit", "0") or 0) or len(items) or 1
    page = max(1, int(params.get("page", "1") or 1))
    return {"success": items[(page - 1) * limit: page * limit]}


def get_instance_ips(model: SimModel, params: dict[str, Any]) -> Any:
    inst = model.instance(params, "get_instance_ips")
    entries: list[dict[str, Any]] = [{"ip": inst.main_ip, "type": "ipv4", "primary": True,
                                      "rdns": inst.rdns.get(inst.main_ip, "")}]
    if model.settings.ips_without_address:  # [guess] e.g. an IPv6 slot without an address
        entries.append({"type": "ipv6", "primary": False, "rdns": ""})
    return {"success": {"IP Addresses": entries}}


def check_serviceid(model: SimModel, params: dict[str, Any]) -> Any:
    model.instance(params, "check_serviceid")
    return {"success": True}


def get_locations(model: SimModel, params: dict[str, Any]) -> Any:
    return {"success": [dict(loc) for loc in model.settings.locations]}


def get_public_images(model: SimModel, params: dict[str, Any]) -> Any:
    """[doc] The images ``add_instance`` takes as ``template``: objects whose ``uuid`` is the template."""
    return {"success": model.settings.image_list()}


def get_price_list(model: SimModel, params: dict[str, Any]) -> Any:
    """[doc] Plans keyed by rid; managed ones unless ``managed=0`` is sent."""
    managed = str(params.get("managed", "1")).strip() not in ("0", "false")
    plans = model.settings.managed_plans if managed else model.settings.plans
    return {"success": {rid: dict(plan) for rid, plan in plans.items()}}


def get_snapshots(model: SimModel, params: dict[str, Any]) -> Any:
    return {"success": []}


def get_instance_firewall_profile(model: SimModel, params: dict[str, Any]) -> Any:
    """[doc] One object in one source, a map of id -> object in another: ``firewall_reply_shape`` picks."""
    name = model.instance(params, "get_instance_firewall_profile").firewall
    head, _, rest = name.partition(" ")
    profile_id = head if rest else hashlib.sha256(name.encode()).hexdigest()[:8]
    profile = {"id": profile_id, "name": name, "description": "", "security_group_rules": []}
    return {"success": {profile_id: profile} if model.settings.firewall_reply_shape == "map" else profile}


def list_ssh_keys(model: SimModel, params: dict[str, Any]) -> Any:
    """[guess] Served under ``ssh_key_list_action`` when that is set (no source shows a listing action)."""
    return {"success": [{"name": name, model.settings.ssh_key_field: key} for name, key in model.ssh_keys.items()]}


# --- changes -------------------------------------------------------------------------------------------

def _add_instance_reply(serviceid: int | None) -> list[dict[str, Any]]:
    created: dict[str, Any] = {"result": "success", "action": "Add Instance", "message": "Server is being Created!"}
    if serviceid is not None:
        created["serviceid"] = serviceid
    return [{"result": "success", "action": "Invoice Paid", "message": "Invoice Paid"}, created]


def add_instance(model: SimModel, params: dict[str, Any]) -> Any:
    inst = model.new_instance(params)
    return _add_instance_reply(inst.serviceid if model.settings.create_reply_includes_serviceid else None)


def _transition(action: str, allowed_from: frozenset[str] | None, status: str, task: str, final: str,
                effect: str | None) -> Handler:
    def handler(model: SimModel, params: dict[str, Any]) -> Any:
        inst = model.instance(params, action)
        if allowed_from is not None and inst.status not in allowed_from:
            raise SimApiError(f"Instance is {inst.status}; cannot {action}.", "403000", _human(action))
        model._schedule(inst, status, task, final, model.settings.action_delay, effect)
        return success(action)
    return handler


def terminate(model: SimModel, params: dict[str, Any]) -> Any:
    inst = model.instance(params, "terminate")
    if inst.locked:
        raise SimApiError("Instance is locked.", "403100", "Terminate Instance")
    model._schedule(inst, inst.status, "deleting", "DELETED", model.settings.terminate_delay, "terminate")
    return success("terminate", "Instance terminated")


def reinstall_instance(model: SimModel, params: dict[str, Any]) -> Any:
    inst = model.instance(params, "reinstall_instance")
    template = str(params.get("template", ""))
    model.check_template(template, "Reinstall Instance")
    inst.template = template
    inst.password = secrets.token_urlsafe(18)
    model._schedule(inst, "BUILDING", "rebuilding", "ACTIVE", model.settings.build_delay, "wipe_host")
    return success("reinstall_instance", "Instance is being reinstalled")


def upgrade_instance(model: SimModel, params: dict[str, Any]) -> Any:
    """[doc] Step 1 of an upgrade: the order (an invoice); nothing changes on the machine yet."""
    inst = model.instance(params, "upgrade_instance")
    rid = str(params.get("rid", ""))
    if model.settings.plan(rid) is None:
        raise SimApiError("Plan (rid) is invalid.", "501300", "Upgrade Instance")
    inst.upgrade_rid = rid
    return success("upgrade_instance", "Upgrade invoice created")


def upgrade_server(model: SimModel, params: dict[str, Any]) -> Any:
    """[doc] Step 2: apply the paid upgrade (migration and reboot) -> RESIZED."""
    inst = model.instance(params, "upgrade_server")
    if not inst.upgrade_rid:
        raise SimApiError("No upgrade is pending for this instance.", "503100", "Upgrade Server")
    if inst.status not in RUNNING_STATUSES and inst.status != "STOPPED":
        raise SimApiError(f"Instance is {inst.status}; cannot upgrade.", "503000", "Upgrade Server")
    inst.previous_rid, inst.rid, inst.upgrade_rid = inst.rid, inst.upgrade_rid, ""
    model._schedule(inst, inst.status, "resize_migrating", "RESIZED", model.settings.action_delay, "restart_host")
    return success("upgrade_server", "Upgrade in progress")


def _after_resize(action: str, revert: bool) -> Handler:
    """[doc] confirm_upgrade / revert_upgrade: only from RESIZED, back to ACTIVE (revert restores the plan)."""
    def handler(model: SimModel, params: dict[str, Any]) -> Any:
        inst = model.instance(params, action)
        if inst.status != "RESIZED":
            raise SimApiError(f"Instance is {inst.status}; {action} needs RESIZED.", "503200", _human(action))
        if revert:
            inst.rid = inst.previous_rid or inst.rid
        inst.previous_rid = ""
        model._schedule(inst, "RESIZED", "resize_confirming", "ACTIVE", model.settings.action_delay,
                        "restart_host" if revert else None)
        return success(action)
    return handler


def edit_instance(model: SimModel, params: dict[str, Any]) -> Any:
    inst = model.instance(params, "edit_instance")
    label = str(params.get("srvrname", ""))
    if not label:
        raise SimApiError("srvrname is required.", "404000", "Edit Instance")
    inst.srvrname = label
    return success("edit_instance")


def change_password(model: SimModel, params: dict[str, Any]) -> Any:
    """[doc] ``password`` is required (the new root password)."""
    inst = model.instance(params, "change_password")
    password = str(params.get("password", ""))
    if len(password) < 8:
        raise SimApiError("A valid password is required.", "404500", "Change Password")
    inst.password = password
    return success("change_password", "Password changed")


def toggle_lock(model: SimModel, params: dict[str, Any]) -> Any:
    inst = model.instance(params, "toggle_lock")
    inst.locked = not inst.locked
    return success("toggle_lock")


def set_rdns(model: SimModel, params: dict[str, Any]) -> Any:
    inst = model.instance(params, "set_rdns")
    ip = str(params.get("ip", ""))
    rdns = str(params.get("rdns", ""))
    if ip != inst.main_ip:
        raise SimApiError("A valid ip is required.", "405000", "Set rDNS")
    if not _RDNS.match(rdns):
        raise SimApiError("rdns is invalid.", "405100", "Set rDNS")
    inst.rdns[ip] = rdns.rstrip(".")
    return success("set_rdns")


def set_instance_firewall(model: SimModel, params: dict[str, Any]) -> Any:
    """A profile by its whole name ("7b4d8e61 mail"), or [guess] by its chosen name ("mail") when that is on."""
    inst = model.instance(params, "set_instance_firewall")
    name = str(params.get("name", "")).strip()
    settings = model.settings
    profiles = settings.firewall_profiles
    found = name if profiles is None or name in profiles else None
    if found is None and profiles is not None and settings.firewall_set_by_chosen_name:
        chosen = [p for p in profiles if p.partition(" ")[2] == name]
        found = chosen[0] if len(chosen) == 1 else None
    if not name or found is None:
        if name and settings.firewall_unknown_reply == "noop":
            return success("set_instance_firewall")
        raise SimApiError("Firewall profile name is invalid.", "406000", "Set Instance Firewall")
    inst.firewall = found
    return success("set_instance_firewall")


def add_ssh_key(model: SimModel, params: dict[str, Any]) -> Any:
    """``name`` [seen]; the public key in ``ssh_key_field`` [guess]. Without that field: refused, or (the other
    guess) the name alone is registered and carries no key to the instances created with it."""
    name = str(params.get("name", ""))
    key = str(params.get(model.settings.ssh_key_field, "")).strip()
    if not _KEY_NAME.match(name):
        raise SimApiError("name is invalid.", "407000", "Add SSH Key")
    if not key and model.settings.ssh_key_without_field == "register_name_only":
        pass
    elif len(key.split()) < 2 or not key.startswith(("ssh-", "ecdsa-", "sk-")):
        raise SimApiError("SSH key is invalid.", "407100", "Add SSH Key")
    if name in model.ssh_keys:
        raise SimApiError("SSH key name is already in use.", "407200", "Add SSH Key")
    model.ssh_keys[name] = key
    return success("add_ssh_key")


def delete_ssh_key(model: SimModel, params: dict[str, Any]) -> Any:
    name = str(params.get("name", ""))
    if name not in model.ssh_keys:
        raise SimApiError("SSH key not found.", "407300", "Delete SSH Key")
    del model.ssh_keys[name]
    return success("delete_ssh_key")


_ANY = None
_UP = frozenset({"ACTIVE", "RESIZED"})
READS: dict[str, Handler] = {
    "get_instances": get_instances,
    "get_instance": get_instance,
    "get_instance_ids": get_instance_ids,
    "get_instance_ips": get_instance_ips,
    "check_serviceid": check_serviceid,
    "get_locations": get_locations,
    "get_public_images": get_public_images,
    "get_price_list": get_price_list,
    "get_snapshots": get_snapshots,
    "get_instance_firewall_profile": get_instance_firewall_profile,
}
CHANGES: dict[str, Handler] = {
    "add_instance": add_instance,
    "terminate": terminate,
    "reinstall_instance": reinstall_instance,
    "recreate": _transition("recreate", _ANY, "BUILDING", "rebuilding", "ACTIVE", "new_ip"),
    "boot": _transition("boot", frozenset({"STOPPED"}), "STOPPED", "powering-on", "ACTIVE", "start_host"),
    "shutdown": _transition("shutdown", RUNNING_STATUSES, "ACTIVE", "powering-off", "STOPPED", "stop_host"),
    "reboot": _transition("reboot", RUNNING_STATUSES, "ACTIVE", "rebooting", "ACTIVE", "restart_host"),
    "rescue": _transition("rescue", _UP, "ACTIVE", "rescuing", "RESCUED", None),
    "unrescue": _transition("unrescue", frozenset({"RESCUED"}), "RESCUED", "unrescuing", "ACTIVE", None),
    "upgrade_instance": upgrade_instance,
    "upgrade_server": upgrade_server,
    "confirm_upgrade": _after_resize("confirm_upgrade", revert=False),
    "revert_upgrade": _after_resize("revert_upgrade", revert=True),
    "edit_instance": edit_instance,
    "change_password": change_password,
    "toggle_lock": toggle_lock,
    "set_rdns": set_rdns,
    "set_instance_firewall": set_instance_firewall,
    "add_ssh_key": add_ssh_key,
    "delete_ssh_key": delete_ssh_key,
}
