"""Issue 17, the pure parts: every reply shape the sources show (or leave open) is read, names resolve to ids the way
the preflight and the provider rely on, and the account-level settings come from the environment, checked."""

from __future__ import annotations

from typing import Any

import pytest

from hostwinds.catalog import Catalog, OfferNotFound, ram_gb
from hostwinds.egress import egress_note, require_ipv4_reachable
from hostwinds.keys import keys_from_api, same_key
from hostwinds.models import Image, Instance, Location, Plan, by_label, instance_ips_from_api, profiles_from_api
from hostwinds.probe import READ_ACTIONS, ProbeRefused, ReadOnlyTransport
from hostwinds.settings import ClientSettings
from hostwinds.transport import RawReply
from toolkit.errors import ConfigError

BASE: dict[str, Any] = {"serviceid": 7, "srvrname": "pm-a-1", "status": "ACTIVE", "task_state": None}


# --- item 6/5: instance fields as the OpenAPI file types them, and terminal states --------------------------------

def test_instance_reads_integer_flags_and_an_image_object() -> None:
    inst = Instance.from_api({**BASE, "locked": 1, "power_state": 4, "template_uuid": "3b5a-uuid",
                              "image": {"uuid": "3b5a-uuid", "name": "Ubuntu 22.04 LTS"}, "ips": ["1.2.3.4", ""]})
    assert inst.locked and inst.power_state == "4" and inst.image == "3b5a-uuid"
    assert inst.image_name == "Ubuntu 22.04 LTS" and inst.ips == ("1.2.3.4",)
    assert not Instance.from_api({**BASE, "locked": 0}).locked and Instance.from_api({**BASE, "locked": "1"}).locked
    assert Instance.from_api({**BASE, "image": "debian-uuid"}).image == "debian-uuid"  # a string, as one source has


@pytest.mark.parametrize("fields", [
    {"status": "TERMINATED"}, {"status": "Cancelled"}, {"status": "deleted"}, {"status": "SOFT_DELETED"},
    {"vm_state": "deleted"}, {"vm_state": "soft-delete"}, {"disp_status": "Terminated"}, {"status": "Fraud"},
])
def test_an_instance_in_any_terminal_state_is_gone(fields: dict[str, str]) -> None:
    inst = Instance.from_api({**BASE, **fields})
    assert inst.gone and not inst.ready
    assert by_label([inst], "pm-a-1") is None  # a label held by a gone instance is free again


def test_a_running_instance_is_not_gone() -> None:
    for status in ("ACTIVE", "BUILDING", "STOPPED", "RESIZED", "RESCUED"):
        assert not Instance.from_api({**BASE, "status": status, "vm_state": status.lower()}).gone


def test_instance_ips_skip_items_without_an_address() -> None:
    payload = {"IP Addresses": [{"ip": "192.0.2.7", "rdns": "mail.a.example."}, {"type": "ipv6", "ip": ""},
                                {"type": "ipv6"}, None]}
    assert [(e.ip, e.rdns) for e in instance_ips_from_api(payload)] == [("192.0.2.7", "mail.a.example")]
    assert [e.ip for e in instance_ips_from_api([{"ip": "192.0.2.8", "type": "ipv4"}, {}])] == ["192.0.2.8"]
    assert instance_ips_from_api({"IP Addresses": {"a": {"ip": "192.0.2.9"}}})[0].ip == "192.0.2.9"
    assert instance_ips_from_api("nonsense") == []


# --- item 4: firewall profiles ------------------------------------------------------------------------------------

@pytest.mark.parametrize("payload", [
    {"id": "7b4d8e61", "name": "7b4d8e61 mail", "description": "", "security_group_rules": []},   # one object
    {"7b4d8e61": {"id": "7b4d8e61", "name": "7b4d8e61 mail", "security_group_rules": []}},       # a map
    [{"name": "7b4d8e61 mail"}],
    "7b4d8e61 mail",
])
def test_a_portal_profile_is_matched_by_its_chosen_name_in_every_reply_shape(payload: Any) -> None:
    [profile] = profiles_from_api(payload)
    assert profile.chosen_name == "mail" and profile.matches("mail") and profile.matches("7b4d8e61 mail")
    assert not profile.matches("mailx") and not profile.matches("") and not profile.matches("7b4d8e61 web")


def test_profile_names_without_a_prefix_and_empty_replies() -> None:
    assert profiles_from_api({"name": "Mail Server"})[0].chosen_name == "Mail Server"
    assert profiles_from_api({"name": "mail"})[0].matches("MAIL")
    assert profiles_from_api({}) == [] and profiles_from_api(None) == [] and profiles_from_api({"name": ""}) == []


# --- item 2: names -> ids ------------------------------------------------------------------------------------------

CATALOG = Catalog(
    images=(Image("3b5a-2204", "Ubuntu 22.04 LTS"), Image("7d9e-2404", "Ubuntu 24.04 LTS"), Image("c1e4", "Debian 12")),
    locations=(Location("1", "Seattle, WA"), Location("12", "Dallas, TX"), Location("3", "Amsterdam, NL")),
    plans=(Plan("52", "SSD 1", ram="1024", cpu="1"), Plan("53", "SSD 2", ram="2 GB", cpu="1"),
           Plan("54", "SSD 3", ram="4096", cpu="2"), Plan("60", "SSD 3 bis", ram="4 GB", cpu="2"),
           Plan("55", "SSD 4", ram="8192 MB", cpu="4 vCPU")),
)
TIERS = {"small": (1, 2.0), "medium": (2, 4.0), "large": (4, 8.0), "huge": (16, 64.0)}


@pytest.mark.parametrize(("wanted", "found"), [
    ("ubuntu-22.04", "3b5a-2204"), ("Ubuntu 22.04 LTS", "3b5a-2204"), ("ubuntu 24.04", "7d9e-2404"),
    ("debian-12", "c1e4"), ("c1e4", "c1e4"),
])
def test_image_names_resolve(wanted: str, found: str) -> None:
    assert CATALOG.image(wanted).id == found


def test_locations_resolve_by_id_or_name_and_tiers_to_the_smallest_fitting_plan() -> None:
    assert [CATALOG.location(w).id for w in ("1", "seattle", "Dallas, TX", "dallas-tx", "12")] == \
        ["1", "1", "12", "12", "12"]
    assert [CATALOG.plan(t, TIERS).rid for t in ("small", "medium", "large")] == ["53", "54", "55"]
    assert CATALOG.plan("60", TIERS).name == "SSD 3 bis" and CATALOG.plan("SSD 1", TIERS).rid == "52"


@pytest.mark.parametrize(("call", "field", "fragments"), [
    (lambda: CATALOG.image("windows-95"), "image", ["'windows-95' is not an image", "Ubuntu 22.04 LTS (id 3b5a-2204)"]),
    (lambda: CATALOG.image("ubuntu"), "image", ["matches more than one image", "'Ubuntu 24.04 LTS'"]),
    (lambda: CATALOG.location("tokyo"), "location", ["'tokyo' is not a location", "Seattle, WA (id 1)"]),
    (lambda: CATALOG.plan("huge", TIERS), "size", ["no unmanaged plan has the 16 vCPU / 64 GB RAM of size 'huge'",
                                                    "set hostwinds.plan_id to one of 52 (SSD 1: 1 vCPU, 1024 RAM)"]),
    (lambda: CATALOG.plan("1002", TIERS, field="hostwinds.plan_id"), "hostwinds.plan_id",
     ["'1002' is not an unmanaged plan", "SSD 2 (rid 53)"]),
])
def test_unknown_or_ambiguous_values_are_refused_with_the_valid_ones(call: Any, field: str,
                                                                     fragments: list[str]) -> None:
    with pytest.raises(OfferNotFound) as refused:
        call()
    assert refused.value.field == field
    for fragment in fragments:
        assert fragment in refused.value.problem, (fragment, refused.value.problem)


def test_ram_values_in_every_unit() -> None:
    assert [ram_gb(v) for v in ("2048", "2 GB", "2GB", "2048 MB", "2", "0.5", "1 TB", "")] == \
        [2.0, 2.0, 2.0, 2.0, 2.0, 0.5, 1024.0, None]


# --- items 2/3: account-level settings from the environment ----------------------------------------------------------

def test_account_settings_come_from_the_environment() -> None:
    env = {"HOSTWINDS_API_KEY": "k" * 20, "PM_HOSTWINDS_BILLING_CYCLE": "monthly",
           "PM_HOSTWINDS_SSH_KEY_FIELD": "public_key", "PM_HOSTWINDS_SSH_KEY_LIST_ACTION": "get_ssh_keys"}
    settings = ClientSettings.from_env(env, api_url="http://127.0.0.1:1/cloud/api.php")
    assert (settings.billing_cycle, settings.ssh_key_field, settings.ssh_key_list_action) == \
        ("monthly", "public_key", "get_ssh_keys")
    defaults = ClientSettings.from_env({"HOSTWINDS_API_KEY": "k" * 20})
    assert (defaults.billing_cycle, defaults.ssh_key_field, defaults.ssh_key_list_action) == ("hourly", "key", "")
    explicit = ClientSettings.from_env(env, billing_cycle="annually")
    assert explicit.billing_cycle == "annually"


@pytest.mark.parametrize(("variable", "value"), [
    ("PM_HOSTWINDS_BILLING_CYCLE", "weekly"), ("PM_HOSTWINDS_SSH_KEY_FIELD", "API"),
    ("PM_HOSTWINDS_SSH_KEY_FIELD", "name"), ("PM_HOSTWINDS_SSH_KEY_LIST_ACTION", "get keys; rm"),
])
def test_a_bad_account_setting_is_named(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as refused:
        ClientSettings.from_env({"HOSTWINDS_API_KEY": "k" * 20, variable: value})
    assert refused.value.field == variable


# --- item 1: IPv4 only ----------------------------------------------------------------------------------------------

def test_an_ipv6_literal_api_url_is_refused_and_the_auth_note_names_ipv4() -> None:
    with pytest.raises(ConfigError, match="IPv4 only"):
        require_ipv4_reachable("http://[::1]:8080/cloud/api.php")
    require_ipv4_reachable("https://clients.hostwinds.com/cloud/api.php")
    dual = egress_note("https://clients.hostwinds.com/cloud/api.php", ipv4="192.0.2.10", ipv6="2001:db8::5",
                       probe=False)
    assert "IPv4 only from 192.0.2.10" in dual and "dual-stack (IPv6 2001:db8::5)" in dual and "not the IPv6" in dual
    single = egress_note("https://clients.hostwinds.com/cloud/api.php", ipv4="192.0.2.10", probe=False)
    assert "dual-stack" not in single and "allow-listed" in single


# --- item 3: key listings, and the probe's guard ----------------------------------------------------------------

def test_key_listings_in_either_shape() -> None:
    line = "ssh-ed25519 AAAAC3Nz pm"
    assert keys_from_api([{"name": "a", "public_key": line}, {"name": "b"}]) == {"a": line, "b": ""}
    assert keys_from_api({"a": {"key": line}}) == {"a": line}
    assert keys_from_api({"a": line}) == {"a": line}
    assert same_key(line, "ssh-ed25519 AAAAC3Nz other-comment") and not same_key(line, "ssh-ed25519 BBBB pm")


class _Recorder:
    def __init__(self) -> None:
        self.posted: list[str] = []

    def post(self, fields: list[tuple[str, str]], action: str) -> RawReply:
        self.posted.append(action)
        return RawReply(200, '{"success": []}')


@pytest.mark.parametrize("action", ["add_instance", "terminate", "delete_ssh_key", "set_instance_firewall",
                                    "change_password", "reinstall_instance", "upgrade_instance"])
def test_the_probe_transport_never_passes_a_change(action: str) -> None:
    inner = _Recorder()
    guard = ReadOnlyTransport(inner, READ_ACTIONS)
    with pytest.raises(ProbeRefused):
        guard.post([("action", action), ("API", "k")], action)
    with pytest.raises(ProbeRefused):  # a read name outside, a change inside the form
        guard.post([("action", action), ("API", "k")], "get_instances")
    assert inner.posted == [] and guard.sent == []
    guard.post([("action", "get_instances"), ("API", "k")], "get_instances")
    assert inner.posted == ["get_instances"]
