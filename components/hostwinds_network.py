"""Two small Hostwinds resources around the VPS: a registered SSH key and the instance's mail networking.

``SshKey``: an account-level SSH public key under a name (``add_ssh_key``), referred to by name when an instance
is created. Changing the key or its name replaces it. A name already taken at create is adopted when it is this
call's own key whose reply was lost, or when the account's key listing (if one is configured) shows the same key;
otherwise it is replaced by this key, never adopted blindly (``hostwinds.keys``). The ``Instance`` then proves that
root accepts the admin key (``components.hostwinds_access``).

``MailNetworking``: reverse DNS (PTR) of the main IP to ``mail.<domain>`` and the mail firewall profile
(25, 465, 587, 993, 443, 22). ``set_rdns`` is asynchronous and the API shows no way to read it back, so the
resource re-sends it whenever IP, name or profile change; the DNS verification confirms the PTR end to end. The
profile is matched by the name chosen in the portal (portal names carry a unique-id prefix: "<id> mail"), and a
profile that does not exist fails within ``firewall_wait`` (``hostwinds.firewall``), not the VPS build timeout.

Both read the API key from ``HOSTWINDS_API_KEY`` at run time (never an input, never in state), like ``Instance``.

Preview: an unknown input (the IP or serviceid of a VPS about to be created) counts as changed in ``diff``
(``components.unknowns``). Refresh: ``SshKey`` keeps its state (the API cannot list keys); ``MailNetworking``
reads the live firewall profile (another profile comes back as an input, by its chosen name, so the next ``up``
sets it again; the configured one, whatever its prefix, is no drift) and reads as deleted when its instance is
gone; the PTR cannot be read back and stays as recorded. An API that does not answer
fails the refresh, as for ``Instance``.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi.dynamic

from components.hostwinds_instance import api_url_failures, client_from
from components.unknowns import changed_keys, diff_result
from hostwinds.errors import InvalidServiceIdError
from hostwinds.firewall import applied


class _SshKeyProvider(pulumi.dynamic.ResourceProvider):
    serialize_as_secret_always = False

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.CheckResult:
        return pulumi.dynamic.CheckResult(news, api_url_failures(news))

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        client = client_from(props)
        client.add_ssh_key(str(props["name"]), str(props["public_key"]))
        return pulumi.dynamic.CreateResult(id_=str(props["name"]), outs=dict(props))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        return diff_result(changed_keys(olds, news, ("name", "public_key")), [], delete_before_replace=True)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        client_from(props).delete_ssh_key(id_)


class SshKey(pulumi.dynamic.Resource, module="hostwinds", name="SshKey"):
    """An SSH public key registered with the Hostwinds account under ``name``."""

    name: pulumi.Output[str]

    def __init__(
        self, resource_name: str, *, name: pulumi.Input[str], public_key: pulumi.Input[str],
        api_url: pulumi.Input[str] | None = None, opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(
            _SshKeyProvider(), resource_name, {"name": name, "public_key": public_key, "api_url": api_url}, opts
        )


NETWORK_INPUTS: tuple[str, ...] = ("serviceid", "ip", "rdns", "firewall_profile", "api_url")


class _MailNetworkingProvider(pulumi.dynamic.ResourceProvider):
    serialize_as_secret_always = False

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.CheckResult:
        return pulumi.dynamic.CheckResult(news, api_url_failures(news))

    def _apply(self, props: dict[str, Any]) -> dict[str, Any]:
        client = client_from(props)
        client.set_firewall_profile(str(props["serviceid"]), str(props["firewall_profile"]))
        client.set_rdns(str(props["serviceid"]), str(props["ip"]), str(props["rdns"]))
        return dict(props)

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        return pulumi.dynamic.CreateResult(id_=f"{props['serviceid']}-network", outs=self._apply(props))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        return diff_result(changed_keys(olds, news, ("serviceid",)),
                           changed_keys(olds, news, ("ip", "rdns", "firewall_profile")))

    def read(self, id_: str, props: dict[str, Any]) -> pulumi.dynamic.ReadResult:
        try:
            live = client_from(props).get_firewall_profiles(str(props["serviceid"]))
        except InvalidServiceIdError:
            return pulumi.dynamic.ReadResult(None, {})
        wanted = str(props.get("firewall_profile") or "")
        profile = wanted if applied(live, wanted) is not None else (live[0].chosen_name if live else "")
        inputs = {key: props.get(key) for key in NETWORK_INPUTS}
        return pulumi.dynamic.ReadResult(id_, {**props, "firewall_profile": profile},
                                         {**inputs, "firewall_profile": profile})

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        return pulumi.dynamic.UpdateResult(outs=self._apply(news))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return None  # PTR and firewall go with the instance


class MailNetworking(pulumi.dynamic.Resource, module="hostwinds", name="MailNetworking"):
    """PTR of the VPS's main IP and its firewall profile."""

    def __init__(
        self, resource_name: str, *, serviceid: pulumi.Input[str], ip: pulumi.Input[str], rdns: pulumi.Input[str],
        firewall_profile: pulumi.Input[str] = "mail", api_url: pulumi.Input[str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {"serviceid": serviceid, "ip": ip, "rdns": rdns, "firewall_profile": firewall_profile,
                 "api_url": api_url}
        super().__init__(_MailNetworkingProvider(), resource_name, props, opts)
