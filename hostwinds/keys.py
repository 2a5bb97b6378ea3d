"""SSH keys registered with the account (``add_ssh_key`` / ``delete_ssh_key``), by name.

What the sources show: working scripts send ``name`` to both actions [seen]; the field carrying the public key and
an action listing keys appear in no public source [guess]. Both are settings (``ClientSettings.ssh_key_field``,
``ssh_key_list_action``; ``invoke hostwinds.probe`` reports what a live account answers), and whatever the API does
with the key, the ``Instance`` provider proves after create that root accepts the admin key.

``register`` leaves the account holding the requested key under the name:
- the name is free: added;
- the name is taken right after our own call's reply was lost (a timeout or dropped connection, then "already in
  use" on the next try): that is our key, adopted;
- the name is taken otherwise (an earlier run whose reply was lost, or a key registered elsewhere): adopted only if
  the account's key listing (when one is configured) shows the same public key; else replaced (delete, add), since
  a different key under the name (one whose private half someone else holds) would be trusted by every VPS
  created with it. Keys act only when an instance is created, so replacing one changes no running VPS.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hostwinds.errors import CircuitOpenError, HostwindsApiError, InvalidActionError
from hostwinds.transport import FormValue
from toolkit.errors import TransientError, ValidationError

if TYPE_CHECKING:
    from hostwinds.client import HostwindsClient

log = logging.getLogger("hostwinds")

_KEY_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
# [guess] how the API words "that key name is taken" / "no key by that name" (the simulator: both are settings).
_NAME_TAKEN = re.compile(r"\b(already (in use|exists?|taken|registered)|duplicate)\b", re.I)
_KEY_MISSING = re.compile(r"\b(not found|does not exist|no such)\b", re.I)
_KEY_FIELDS = ("public_key", "key", "ssh_key", "pubkey")


def key_name(value: object) -> str:
    if not isinstance(value, str) or not _KEY_NAME.match(value):
        raise ValidationError("ssh_key_name", f"{value!r} must be 1..64 characters of A-Z a-z 0-9 _ . -")
    return value


def key_line(public_key: object) -> str:
    line = str(public_key or "").strip()
    if not line.startswith(("ssh-", "ecdsa-", "sk-")) or len(line.split()) < 2:
        raise ValidationError("public_key", "must be an OpenSSH public key line (ssh-ed25519 AAAA...)")
    return line


def same_key(a: str, b: str) -> bool:
    """Same key type and key material (the comment does not count)."""
    return a.split()[:2] == b.split()[:2]


def list_keys(client: HostwindsClient) -> dict[str, str] | None:
    """Name -> public key from the configured listing action; None when none is configured or the API does not
    know it (then nothing can be compared). A listed key without a visible public key maps to ""."""
    action = client.settings.ssh_key_list_action
    if not action:
        return None
    try:
        payload = client.read(action)
    except InvalidActionError:
        log.info("hostwinds: the SSH key listing action %r is not known to the API", action)
        return None
    return keys_from_api(payload, client.settings.ssh_key_field)


def keys_from_api(payload: Any, field: str = "key") -> dict[str, str]:
    """A key listing as name -> public key: a list of objects, or a map keyed by name or id [guess: no source]."""
    items: list[tuple[str, Any]] = []
    if isinstance(payload, Mapping):
        items = [(str(k), v) for k, v in payload.items()]
    elif isinstance(payload, list):
        items = [("", v) for v in payload]
    found: dict[str, str] = {}
    for fallback, item in items:
        if isinstance(item, Mapping):
            name = str(item.get("name") or item.get("title") or fallback)
            public = next((str(item[f]) for f in (field, *_KEY_FIELDS) if item.get(f)), "")
        else:
            name, public = fallback, str(item or "")
        if name:
            found[name] = public.strip()
    return found


def register(client: HostwindsClient, name: str, public_key: str) -> str:
    """Make the account hold ``public_key`` under ``name``; returns "added", "adopted" or "replaced"."""
    line = key_line(public_key)
    form: dict[str, FormValue] = {"name": key_name(name), client.settings.ssh_key_field: line}
    policy = client.settings.retry
    sent_unanswered = replaced = False
    for attempt in range(1, policy.attempts + 1):
        try:
            client.mutate("add_ssh_key", form, retry=False)
            return "replaced" if replaced else "added"
        except TransientError as exc:
            if isinstance(exc, CircuitOpenError) or attempt == policy.attempts:
                raise
            sent_unanswered = True  # it may have been applied: a "taken" answer next is our own key
            client.pause(policy.delay_before(attempt + 1))
            continue
        except HostwindsApiError as exc:
            if not _NAME_TAKEN.search(exc.api_message):
                raise
            taken = exc
        if sent_unanswered:
            log.info("hostwinds: SSH key %s was registered by our call whose reply was lost; adopting it", name)
            return "adopted"
        listed = list_keys(client)
        if listed is not None and listed.get(name) and same_key(listed[name], line):
            log.info("hostwinds: SSH key %s already holds the requested key; adopting it", name)
            return "adopted"
        if attempt == policy.attempts:
            raise taken
        log.warning("hostwinds: an SSH key named %s already exists (a lost reply or another key; %s): replacing it "
                    "with the requested key", name,
                    "the listing shows a different key" if listed else "the API cannot show which")
        delete(client, name)
        replaced = True
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def delete(client: HostwindsClient, name: str) -> None:
    """Delete the key named ``name``; idempotent (a key that is already gone is not an error)."""
    try:
        client.mutate("delete_ssh_key", {"name": key_name(name)})
    except HostwindsApiError as exc:
        if not _KEY_MISSING.search(exc.api_message):
            raise
        log.info("hostwinds: SSH key %s is already gone", name)
