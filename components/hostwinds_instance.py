"""Pulumi wrapper of the Hostwinds client: the dynamic resource ``Instance`` (one VPS).

A thin layer over ``hostwinds.HostwindsClient``; the client is built inside each provider method, so the
pickled provider holds no connection, lock or key.

**API key**: never an input and never in state. The provider reads ``HOSTWINDS_API_KEY`` (and optionally
``HOSTWINDS_API_URL``) from the environment of the ``pulumi`` process when it runs; CI injects it from its
secret store. Only the non-secret ``api_url`` may be given as an input (for the simulator).

Inputs: ``label`` (unique per account, e.g. ``pm-<tenant>-<generation>``), ``location_id``, ``plan_id``,
``image``, ``ssh_key_names``, ``billing_cycle``; optional ``api_url``, ``poll_interval``, ``poll_timeout``,
``retry_base_delay``.
Outputs: the inputs plus ``serviceid`` (also the resource id), ``main_ip``, ``hostname``, ``status``. Never the root
password or configkey.

Diff: location, plan or image -> replace (a different machine); label -> update via ``edit_instance``;
``ssh_key_names`` only apply at create (changing them later is ignored: re-keying is the SSH rotation task's job).
Refresh (``read``) reports the live status, IP, hostname and label; a label changed outside Pulumi comes back as
an input so the next ``up`` renames it back. An instance that is gone reads as deleted.
"""

from __future__ import annotations

import os
from typing import Any

import pulumi
import pulumi.dynamic

from hostwinds.client import CreateRequest, HostwindsClient
from hostwinds.errors import InvalidServiceIdError
from hostwinds.models import Instance as ApiInstance
from hostwinds.settings import ENV_API_KEY, ENV_API_URL, ClientSettings, PollSettings, RetryPolicy
from toolkit.errors import ConfigError
from toolkit.redact import Secret

INPUT_KEYS: tuple[str, ...] = (
    "label", "location_id", "plan_id", "image", "ssh_key_names", "billing_cycle",
    "api_url", "poll_interval", "poll_timeout", "retry_base_delay",
)
REQUIRED_KEYS: tuple[str, ...] = ("label", "location_id", "plan_id", "image")
REPLACE_KEYS: tuple[str, ...] = ("location_id", "plan_id", "image")
UPDATE_KEYS: tuple[str, ...] = ("label",)
OUTPUT_KEYS: tuple[str, ...] = ("serviceid", "main_ip", "hostname", "status")


def client_from(props: dict[str, Any]) -> HostwindsClient:
    """A client for one provider call: key from the environment, tuning from the (public) inputs."""
    key = os.environ.get(ENV_API_KEY, "")
    if not key:
        raise ConfigError(ENV_API_KEY, "is not set in the environment of `pulumi`; the Hostwinds provider reads "
                                       "the API key from there so it never lands in state")
    url = str(props.get("api_url") or os.environ.get(ENV_API_URL) or "https://clients.hostwinds.com/cloud/api.php")
    poll = PollSettings(interval=float(props.get("poll_interval") or 30.0),
                        timeout=float(props.get("poll_timeout") or 1800.0))
    base_delay = props.get("retry_base_delay")
    retry = RetryPolicy(base_delay=float(base_delay)) if base_delay is not None else RetryPolicy()
    return HostwindsClient(ClientSettings(api_key=Secret(key), url=url, poll=poll, retry=retry,
                                          lost_create_grace=min(60.0, poll.timeout)))


def _outputs(props: dict[str, Any], live: ApiInstance) -> dict[str, Any]:
    outs = {key: props[key] for key in INPUT_KEYS if key in props}
    outs.update({"serviceid": live.serviceid, "main_ip": live.main_ip, "hostname": live.hostname,
                 "status": live.status, "label": live.label or props.get("label")})
    return outs


class InstanceProvider(pulumi.dynamic.ResourceProvider):
    serialize_as_secret_always = False  # it captures no secret; keeping it readable helps debugging state

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.CheckResult:
        failures = [pulumi.dynamic.CheckFailure(key, f"{key} is required")
                    for key in REQUIRED_KEYS if not news.get(key)]
        if news.get("label"):
            try:
                CreateRequest(label=str(news["label"]), template="x", plan_id="x", location_id="x").form()
            except ConfigError as exc:
                failures.append(pulumi.dynamic.CheckFailure("label", exc.problem))
        return pulumi.dynamic.CheckResult(news, failures)

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        client = client_from(props)
        live = client.create_instance(CreateRequest(
            label=str(props["label"]), template=str(props["image"]), plan_id=str(props["plan_id"]),
            location_id=str(props["location_id"]),
            ssh_key_names=tuple(str(n) for n in props.get("ssh_key_names") or ()),
            billing_cycle=str(props.get("billing_cycle") or "hourly"),
        ))
        return pulumi.dynamic.CreateResult(id_=live.serviceid, outs=_outputs(props, live))

    def read(self, id_: str, props: dict[str, Any]) -> pulumi.dynamic.ReadResult:
        client = client_from(props)
        try:
            live = client.get_instance(id_)
        except InvalidServiceIdError:
            return pulumi.dynamic.ReadResult(None, {})
        outs = _outputs(props, live)
        inputs = {key: props[key] for key in INPUT_KEYS if key in props}
        if live.label:
            inputs["label"] = live.label
        return pulumi.dynamic.ReadResult(id_, outs, inputs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        replaces = [key for key in REPLACE_KEYS if str(olds.get(key)) != str(news.get(key))]
        updates = [key for key in UPDATE_KEYS if olds.get(key) != news.get(key)]
        return pulumi.dynamic.DiffResult(
            changes=bool(replaces or updates), replaces=replaces,
            stables=["serviceid"], delete_before_replace=False,
        )

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        client = client_from(news)
        if olds.get("label") != news.get("label"):
            client.rename(id_, str(news["label"]))
        return pulumi.dynamic.UpdateResult(outs=_outputs(news, client.get_instance(id_)))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        client_from(props).terminate(id_)


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
        billing_cycle: pulumi.Input[str] = "hourly",
        api_url: pulumi.Input[str] | None = None,
        poll_interval: float | None = None,
        poll_timeout: float | None = None,
        retry_base_delay: float | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "label": label, "location_id": location_id, "plan_id": plan_id, "image": image,
            "ssh_key_names": ssh_key_names or [], "billing_cycle": billing_cycle, "api_url": api_url,
            "poll_interval": poll_interval, "poll_timeout": poll_timeout, "retry_base_delay": retry_base_delay,
        }
        props.update({key: None for key in OUTPUT_KEYS})
        super().__init__(InstanceProvider(), name, props, opts)
