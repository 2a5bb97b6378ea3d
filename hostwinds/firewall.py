"""An instance's firewall profile, matched by the name the operator chose.

Profiles made in the portal deny by default and are named "<unique id> <chosen name>" (official portal guide), and
``get_instance_firewall_profile`` answers one object in one source and a map of id -> object in another [doc]:
``hostwinds.models.profiles_from_api`` reads both, and a profile counts as applied when its chosen name, whole name
or id is the configured one (``FirewallProfile.matches``), never by comparing whole names.

``apply`` sends ``set_instance_firewall`` with the configured name and waits for the profile to show, for
``ClientSettings.firewall_wait`` (two minutes), not the half hour a VPS build may take: a refusal from the API, or
a profile that never shows, is ``FirewallProfileMissing`` with the fix (create it in the portal, or name it as the
portal shows it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hostwinds.errors import HostwindsApiError, HostwindsError, InvalidServiceIdError, WaitTimeoutError
from hostwinds.models import FirewallProfile, profiles_from_api
from hostwinds.polling import wait_for
from hostwinds.settings import PollSettings

if TYPE_CHECKING:
    from hostwinds.client import HostwindsClient


class FirewallProfileMissing(HostwindsError):
    """The configured firewall profile does not exist on the account (or the API never applied it)."""


def _fix(name: str) -> str:
    return (f"create a firewall profile named {name!r} in the Hostwinds portal (it shows as '<unique id> {name}'), "
            "or set hostwinds.firewall_profile to a profile that exists")


def profiles(client: HostwindsClient, serviceid: str) -> list[FirewallProfile]:
    return profiles_from_api(client.read("get_instance_firewall_profile", {"serviceid": serviceid}))


def applied(found: list[FirewallProfile], name: str) -> FirewallProfile | None:
    """The profile among ``found`` that is ``name`` (by chosen name, whole name or id), else None."""
    return next((p for p in found if p.matches(name)), None)


def apply(client: HostwindsClient, serviceid: str, name: str, wait: bool = True) -> FirewallProfile | None:
    """Put profile ``name`` on instance ``serviceid``; with ``wait``, return it once the instance shows it."""
    try:
        client.mutate("set_instance_firewall", {"serviceid": serviceid, "name": name})
    except InvalidServiceIdError:
        raise
    except HostwindsApiError as exc:
        raise FirewallProfileMissing(f"Hostwinds refused firewall profile {name!r} for instance {serviceid} "
                                     f"({exc.api_message}): {_fix(name)}") from None
    if not wait:
        return None
    settings = client.settings
    bounded = PollSettings(interval=min(settings.poll.interval, settings.firewall_wait / 4),
                           timeout=min(settings.firewall_wait, settings.poll.timeout))
    try:
        found = wait_for(lambda: profiles(client, serviceid), lambda ps: applied(ps, name) is not None,
                         f"instance {serviceid} to use firewall profile {name!r}", bounded, client.clock,
                         client.pause)
    except WaitTimeoutError:
        shown = ", ".join(repr(p.name) for p in profiles(client, serviceid)) or "none"
        raise FirewallProfileMissing(f"instance {serviceid} does not show firewall profile {name!r} "
                                     f"{bounded.timeout:g} s after the API accepted it (it shows {shown}): the "
                                     f"profile probably does not exist; {_fix(name)}") from None
    return applied(found, name)
