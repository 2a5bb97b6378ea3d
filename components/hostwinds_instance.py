"""Pulumi wrapper of the Hostwinds client: the dynamic resource ``Instance`` (one VPS).

A thin layer over ``hostwinds.HostwindsClient``; the client is built inside each provider method, so the
pickled provider holds no connection, lock or key.

**API key**: never an input and never in state. The provider reads ``HOSTWINDS_API_KEY`` (and optionally
``HOSTWINDS_API_URL``) from the environment of the ``pulumi`` process when it runs; CI injects it from its
secret store. Only the non-secret ``api_url`` may be given as an input (for the simulator).

Inputs: ``label`` (unique per account, e.g. ``pm-<tenant>-<generation>``), ``location_id``, ``plan_id``,
``image``, ``ssh_key_names``, ``billing_cycle``; optional ``api_url``, ``poll_interval``, ``poll_timeout``,
``retry_base_delay``, ``generation`` (default 1), ``wipe_on_delete``, ``wipe_key_path``, ``wipe_timeout``.
Outputs: the inputs plus ``serviceid`` (also the resource id), ``main_ip``, ``hostname``, ``status`` and ``resolved``
(the API ids the names resolved to at create). Never the root password or configkey.

Names, not ids: ``image`` (an image name such as ``ubuntu-22.04``, or a UUID), ``location_id`` (a location name or
id) and ``plan_id`` (a size tier ``small``/``medium``/``large``, a plan rid or name) stay what the stack file says;
create resolves them through the account's listings (``hostwinds.catalog``, the same rules as the preflight), so
the state keeps readable names and a renamed offer never diffs. ``billing_cycle`` unset = the account setting
(``PM_HOSTWINDS_BILLING_CYCLE``, default hourly).

Admin key: with ``wipe_key_path`` (the admin key's Vault path), create then proves that root accepts that key
(``components.hostwinds_access``: the first-boot fallback through the root password once, else a clear failure
before anything is installed on the host).

Diff: location, plan, image or ``generation`` -> replace (a different machine; ``generation`` is how
``dr.migrate`` asks for a new VPS: Pulumi creates the new one first and deletes the old one at the end of the same
``up``; a state without ``generation`` reads as 1, so adding the input changes nothing); label and the wipe
settings -> update (the wipe settings touch nothing on the VPS; they are recorded for the delete);
``ssh_key_names`` only apply at create (changing them later is ignored: re-keying is the SSH rotation task's job).
Refresh (``read``) reports the live status, IP, hostname and label; a label changed outside Pulumi comes back as
an input so the next ``up`` renames it back. An instance that is gone (unknown serviceid, or listed in a terminal
state) reads as deleted. A state written before sizes were resolved at create holds the sandbox's old plan id for
its tier (1002/1003/1004): it compares equal to that tier, so it does not replace the VPS. Location and image are
not read back as inputs: the API names them differently from the inputs, and a mismatch would replace the VPS.
An API that does not answer (after the client's retries) fails the refresh: the status and IP are what DNS and
Mailu are built on, so a stale copy is not kept silently.

Preview: ``check`` skips inputs not known yet (a label built from an unknown); ``diff`` counts an unknown as a
change (``components.unknowns``): an unknown location, plan, image or generation means replace.

Delete: with ``wipe_on_delete`` the machine is wiped first, best effort (``fleet.wipe``): SSH as root with the
admin key read from Vault at run time (``wipe_key_path``, a logical path such as ``vps/<tenant>/admin_ssh``; the key
is never an input or in state), Mailu's tree, DKIM keys and authorized_keys removed (secrets shredded). A host
that does not answer within ``wipe_timeout`` seconds (default 20) is terminated anyway with a warning on stderr.
"""

from __future__ import annotations

import sys
from typing import Any

import pulumi
import pulumi.dynamic

from components.engine_numbers import whole_numbers
from components.unknowns import changed_keys, diff_result, is_unknown
from hostwinds.catalog import Catalog
from hostwinds.client import CreateRequest, HostwindsClient
from hostwinds.endpoint import check_api_url
from hostwinds.errors import InvalidServiceIdError
from hostwinds.models import Instance as ApiInstance
from hostwinds.settings import ClientSettings, PollSettings, RetryPolicy
from toolkit.errors import ConfigError, ToolkitError
from toolkit.redact import scrub
from toolkit.tenant_config import size_minimums

INPUT_KEYS: tuple[str, ...] = (
    "label", "location_id", "plan_id", "image", "ssh_key_names", "billing_cycle",
    "api_url", "poll_interval", "poll_timeout", "retry_base_delay", "generation", "wipe_on_delete",
    "wipe_key_path", "wipe_timeout",
)
REQUIRED_KEYS: tuple[str, ...] = ("label", "location_id", "plan_id", "image")
REPLACE_KEYS: tuple[str, ...] = ("location_id", "plan_id", "image", "generation")
UPDATE_KEYS: tuple[str, ...] = ("label", "wipe_on_delete", "wipe_key_path", "wipe_timeout")
DEFAULTS: dict[str, Any] = {"generation": 1, "wipe_on_delete": False, "wipe_key_path": None, "wipe_timeout": None}
"""What a missing (or null) input means: states written before an input existed compare equal to its default."""
DEFAULT_WIPE_TIMEOUT = 20.0
OUTPUT_KEYS: tuple[str, ...] = ("serviceid", "main_ip", "hostname", "status", "resolved")
LEGACY_PLAN_IDS = {"1002": "small", "1003": "medium", "1004": "large"}
"""The simulator's plan ids that stacks used for the size tiers before tiers were resolved through get_price_list."""
MAX_ACCESS_WAIT = 300.0


def client_from(props: dict[str, Any]) -> HostwindsClient:
    """A client for one provider call: key from the environment of ``pulumi``, URL and tuning from the (public)
    inputs (``hostwinds.settings.ClientSettings.from_env``)."""
    poll = PollSettings(interval=float(props.get("poll_interval") or 30.0),
                        timeout=float(props.get("poll_timeout") or 1800.0))
    base_delay = props.get("retry_base_delay")
    retry = RetryPolicy(base_delay=float(base_delay)) if base_delay is not None else RetryPolicy()
    return HostwindsClient(ClientSettings.from_env(api_url=props.get("api_url") or None, poll=poll, retry=retry,
                                                   lost_create_grace=min(60.0, poll.timeout)))


def api_url_failures(news: dict[str, Any]) -> list[pulumi.dynamic.CheckFailure]:
    """``check`` failures for the ``api_url`` input (skipped while unknown at preview): shared by every Hostwinds
    provider, so a hostile URL is refused before any resource is created."""
    url = news.get("api_url")
    if not url or is_unknown(url):
        return []
    try:
        check_api_url(url, "api_url")
    except ConfigError as exc:
        return [pulumi.dynamic.CheckFailure("api_url", exc.problem)]
    return []


def _value(props: dict[str, Any], key: str) -> Any:
    """An input as compared by ``diff``: missing -> its default; the engine's numbers (float64) -> int when whole,
    so ``generation`` 1 and 1.0 are the same value."""
    value = whole_numbers(props.get(key))
    value = DEFAULTS.get(key) if value is None else value
    if key == "plan_id" and isinstance(value, str):
        return LEGACY_PLAN_IDS.get(value, value)
    return value


def replacement_keeps_label(olds: dict[str, Any], news: dict[str, Any]) -> list[str]:
    """The inputs forcing a replacement when the label stays the same (else []). Such a replacement must be
    refused: the new instance's create adopts the VPS carrying that label (the old one), and deleting the "old"
    resource at the end of the ``up`` would then terminate the live machine."""
    if not olds or not isinstance(news.get("label"), str) or olds.get("label") != news.get("label"):
        return []
    return [key for key in REPLACE_KEYS if not is_unknown(news.get(key)) and key in _replace_keys(olds, news)]


def _replace_keys(olds: dict[str, Any], news: dict[str, Any]) -> list[str]:
    """Replace keys compared as text (the engine may hand back "1" or 1.0); an unknown one counts as changed."""
    return changed_keys(olds, news, REPLACE_KEYS, value=lambda props, key: str(_value(props, key)))


def _wipe(id_: str, props: dict[str, Any], client: HostwindsClient) -> None:
    """Best-effort wipe before terminate; never raises (the VPS is terminated either way)."""
    from fleet.wipe import wipe_host  # imported lazily: only deletes with wiping need SSH and Vault

    try:
        live = client.get_instance(id_)
    except InvalidServiceIdError:
        return  # already gone: nothing to wipe
    except ToolkitError as exc:
        live = None
        _warn(f"cannot read instance {id_} before wiping ({scrub(str(exc))}); trying its recorded address")
    address = (live.main_ip if live is not None else None) or props.get("main_ip")
    if not address or not props.get("wipe_key_path"):
        _warn(f"instance {id_}: no address or admin key path recorded; terminating without a wipe")
        return
    timeout = float(props.get("wipe_timeout") or DEFAULT_WIPE_TIMEOUT)
    result = wipe_host(str(address), str(props["wipe_key_path"]), timeout=timeout)
    if result.ok:
        print(f"pm-wipe: instance {id_} ({address}) wiped before terminate", file=sys.stderr)
    else:
        _warn(f"instance {id_} ({address}) not wiped ({result.problem}); terminating anyway")


def _warn(message: str) -> None:
    # Dynamic providers have no engine log channel; the engine shows a provider's stderr with the resource.
    print(f"pm-wipe: warning: {message}", file=sys.stderr)


def _outputs(props: dict[str, Any], live: ApiInstance) -> dict[str, Any]:
    outs = {key: props[key] for key in INPUT_KEYS if key in props}
    outs.update({"serviceid": live.serviceid, "main_ip": live.main_ip, "hostname": live.hostname,
                 "status": live.status, "label": live.label or props.get("label"),
                 "resolved": props.get("resolved") or {}})
    return outs


def resolve(client: HostwindsClient, props: dict[str, Any]) -> dict[str, str]:
    """The API ids of the ``image``, ``location_id`` and ``plan_id`` names (``hostwinds.catalog``)."""
    catalog = Catalog.fetch(client)
    return {"template": catalog.image(str(props["image"])).id,
            "location_id": catalog.location(str(props["location_id"])).id,
            "rid": catalog.plan(str(props["plan_id"]), size_minimums(), field="plan_id").rid}


def _check_access(client: HostwindsClient, props: dict[str, Any], live: ApiInstance) -> None:
    """Root on the new VPS accepts the admin key (``components.hostwinds_access``); skipped without a key path."""
    from components.hostwinds_access import check_admin_access  # lazily: only creates with a key path need SSH
    from vault import keys
    from vault.client import VaultClient
    from vault.mailu_secrets import parse_path

    with VaultClient.from_env() as vault:
        admin_key = keys.read_private(vault, parse_path(str(props["wipe_key_path"]), "wipe_key_path"))
    fresh = client.get_instance(live.serviceid)  # the root password, for the first-boot fallback
    check_admin_access(live.main_ip, admin_key, password=fresh.password,
                       key_names=[str(n) for n in props.get("ssh_key_names") or ()],
                       key_field=client.settings.ssh_key_field,
                       timeout=min(float(props.get("poll_timeout") or 1800.0), MAX_ACCESS_WAIT))


class InstanceProvider(pulumi.dynamic.ResourceProvider):
    serialize_as_secret_always = False  # it captures no secret; keeping it readable helps debugging state

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.CheckResult:
        failures = [pulumi.dynamic.CheckFailure(key, f"{key} is required")
                    for key in REQUIRED_KEYS if not news.get(key)]
        if news.get("label") and not is_unknown(news["label"]):  # unknown at preview: checked once known
            try:
                CreateRequest(label=str(news["label"]), template="x", plan_id="x", location_id="x").form()
            except ConfigError as exc:
                failures.append(pulumi.dynamic.CheckFailure("label", exc.problem))
        failures += api_url_failures(news)
        replacing = replacement_keeps_label(olds, news)
        if replacing:
            failures.append(pulumi.dynamic.CheckFailure("label", (
                f"changing {', '.join(replacing)} replaces the VPS, but the label {news['label']!r} stays the same "
                "(the new VPS would adopt the old one by label, then the old one's delete would terminate it); "
                "bump `hostwinds.vps_generation` (it is part of the label) or use `invoke dr.migrate`")))
        return pulumi.dynamic.CheckResult(news, failures)

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        client = client_from(props)
        ids = resolve(client, props)
        live = client.create_instance(CreateRequest(
            label=str(props["label"]), template=ids["template"], plan_id=ids["rid"], location_id=ids["location_id"],
            ssh_key_names=tuple(str(n) for n in props.get("ssh_key_names") or ()),
            billing_cycle=str(props["billing_cycle"]) if props.get("billing_cycle") else None,
        ))
        if props.get("wipe_key_path"):
            _check_access(client, props, live)
        return pulumi.dynamic.CreateResult(id_=live.serviceid, outs=_outputs({**props, "resolved": ids}, live))

    def read(self, id_: str, props: dict[str, Any]) -> pulumi.dynamic.ReadResult:
        client = client_from(props)
        try:
            live = client.get_instance(id_)
        except InvalidServiceIdError:
            return pulumi.dynamic.ReadResult(None, {})
        if live.gone:  # listed in a terminal state: no machine any more
            return pulumi.dynamic.ReadResult(None, {})
        outs = _outputs(props, live)
        inputs = {key: props[key] for key in INPUT_KEYS if key in props}
        if live.label:
            inputs["label"] = live.label
        return pulumi.dynamic.ReadResult(id_, outs, inputs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        updates = changed_keys(olds, news, UPDATE_KEYS, value=_value)
        return diff_result(_replace_keys(olds, news), updates, delete_before_replace=False)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        client = client_from(news)
        if olds.get("label") != news.get("label"):
            client.rename(id_, str(news["label"]))
        return pulumi.dynamic.UpdateResult(outs=_outputs(news, client.get_instance(id_)))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        client = client_from(props)
        if props.get("wipe_on_delete"):
            _wipe(id_, props, client)
        client.terminate(id_)


class Instance(pulumi.dynamic.Resource, module="hostwinds", name="Instance"):
    """One Hostwinds VPS. See the module docstring for inputs, outputs and the API key."""

    serviceid: pulumi.Output[str]
    main_ip: pulumi.Output[str]
    hostname: pulumi.Output[str]
    status: pulumi.Output[str]
    label: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        label: pulumi.Input[str],
        location_id: pulumi.Input[str],
        plan_id: pulumi.Input[str],
        image: pulumi.Input[str],
        ssh_key_names: pulumi.Input[list[str]] | None = None,
        billing_cycle: pulumi.Input[str] | None = None,
        api_url: pulumi.Input[str] | None = None,
        poll_interval: float | None = None,
        poll_timeout: float | None = None,
        retry_base_delay: float | None = None,
        generation: pulumi.Input[int] = 1,
        wipe_on_delete: pulumi.Input[bool] = False,
        wipe_key_path: pulumi.Input[str] | None = None,
        wipe_timeout: float | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "label": label, "location_id": location_id, "plan_id": plan_id, "image": image,
            "ssh_key_names": ssh_key_names or [], "billing_cycle": billing_cycle, "api_url": api_url,
            "poll_interval": poll_interval, "poll_timeout": poll_timeout, "retry_base_delay": retry_base_delay,
            "generation": generation, "wipe_on_delete": wipe_on_delete, "wipe_key_path": wipe_key_path,
            "wipe_timeout": wipe_timeout,
        }
        props.update({key: None for key in OUTPUT_KEYS})
        super().__init__(InstanceProvider(), name, props, opts)
