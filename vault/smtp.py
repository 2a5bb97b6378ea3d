"""The Mailu admin (SMTP) credential: random password encrypted by Vault transit, ciphertext stored in KV.

The transit key (``aes256-gcm96``) never leaves Vault; ``smtp/<tenant>/admin`` holds the ``vault:vN:...``
ciphertext. ``decrypt_password`` is for the installer; humans get a wrapped 900 s view (vault.wrapping).

The emergency reset (`rotate.smtp --incident ID`) reaches the key resource through its rotation trigger
(``rotation_trigger(generation, incident_id)``): the version it writes has a 48-byte password and marks the version
it replaces compromised with the incident id (``compromised``: version, incident, when; KV history keeps the old
version itself, which cannot change).
"""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass
from typing import Any

from toolkit import validate
from toolkit.redact import REDACTOR, Secret
from vault import kv, paths
from vault.client import VaultClient
from vault.errors import SecretNotFound
from vault.keys import now_iso

TRANSIT_MOUNT = "transit"
TRANSIT_KEY = "smtp-admin"
PASSWORD_BYTES = 32
EMERGENCY_PASSWORD_BYTES = 48
ROTATION_POLICY = "180_days"
_EMERGENCY_TRIGGER = re.compile(r"generation-(\d+)-incident-([A-Za-z0-9_-]{1,64})")


@dataclass(frozen=True)
class StoredCredential:
    path: str
    version: int
    username: str
    webmail_url: str


def rotation_trigger(generation: int, incident_id: str | None = None) -> str:
    """The credential's ``rotation_trigger`` at ``generation`` (empty at 1, the value before day-2 intent existed);
    an emergency reset's trigger carries its incident id."""
    if incident_id:
        return f"generation-{generation}-incident-{validate.key_id(incident_id, 'incident_id')}"
    return "" if generation == 1 else f"generation-{generation}"


def incident_in(trigger: str) -> str | None:
    """The incident id an emergency trigger carries (None for an ordinary rotation)."""
    match = _EMERGENCY_TRIGGER.fullmatch(trigger or "")
    return match.group(2) if match else None


def generate_password(nbytes: int = PASSWORD_BYTES) -> Secret:
    password = Secret(base64.b64encode(secrets.token_bytes(nbytes)).decode())
    REDACTOR.register(password)
    return password


def encrypt(client: VaultClient, plaintext: Secret, *, key: str = TRANSIT_KEY) -> str:
    """Transit ciphertext (``vault:v1:...``) of ``plaintext``."""
    encoded = base64.b64encode(plaintext.reveal().encode()).decode()
    reply = client.write(f"{TRANSIT_MOUNT}/encrypt/{key}", {"plaintext": encoded})
    assert reply is not None
    return str(reply["data"]["ciphertext"])


def decrypt(client: VaultClient, ciphertext: str, *, key: str = TRANSIT_KEY) -> Secret:
    reply = client.write(f"{TRANSIT_MOUNT}/decrypt/{key}", {"ciphertext": ciphertext})
    assert reply is not None
    plain = Secret(base64.b64decode(reply["data"]["plaintext"]).decode())
    REDACTOR.register(plain)
    return plain


def store_admin_credential(
    client: VaultClient,
    tenant_id: str,
    domain: str,
    *,
    webmail_url: str | None = None,
    password: Secret | None = None,
    incident_id: str | None = None,
    trigger: str = "",
) -> tuple[StoredCredential, Secret]:
    """Create or rotate ``smtp/<tenant>/admin``. Returns the stored record and the new password
    (the caller sets it in Mailu; it is never logged).

    With ``incident_id`` this is the emergency reset: a 48-byte password, and the record marks the
    previous version compromised (history is kept for the audit trail).

    ``trigger`` (the engine's rotation trigger) makes a repeat idempotent: when the current version was written for
    the same trigger (an update interrupted after the write), it is returned instead of writing another. An
    emergency trigger (``rotation_trigger(generation, incident_id)``) stands for ``incident_id``."""
    path = paths.smtp_admin(tenant_id)
    if trigger:
        try:
            current = kv.read(client, path)
        except SecretNotFound:
            current = None
        if current is not None and current.data.get("rotation_trigger") == trigger:
            stored = StoredCredential(path.logical, current.version, str(current.data["username"]),
                                      str(current.data["webmail_url"]))
            return stored, decrypt(client, str(current.data["encrypted_password"]))
    name = validate.domain(domain)
    incident_id = incident_id or incident_in(trigger)
    if incident_id is not None:
        validate.key_id(incident_id, field="incident_id")
    new_password = password or generate_password(
        EMERGENCY_PASSWORD_BYTES if incident_id else PASSWORD_BYTES
    )
    ciphertext = encrypt(client, new_password)
    try:
        current = kv.read(client, path)
        version, created, previous = current.version, current.data.get("created_at"), current.data
    except SecretNotFound:
        version, created, previous = kv.current_version(client, path), None, {}
    stamp = now_iso()
    url = webmail_url or f"https://mail.{name}/webmail"
    data: dict[str, Any] = {
        "username": f"admin@{name}",
        "encrypted_password": ciphertext,
        "webmail_url": url,
        "created_at": created or stamp,
        "last_rotated": stamp,
        "rotation_policy": ROTATION_POLICY,
        "rotation_trigger": trigger,
    }
    compromised = list(previous.get("compromised_versions", []))
    marks = list(previous.get("compromised", []))
    if incident_id:
        data["incident_id"] = incident_id
        if previous and version not in compromised:
            compromised.append(version)
            marks.append({"version": version, "incident_id": incident_id, "marked_at": stamp})
    if compromised:
        data["compromised_versions"] = compromised
    if marks:
        data["compromised"] = marks
    new_version = kv.write(client, path, data, cas=version)
    return StoredCredential(path.logical, new_version, data["username"], url), new_password


def decrypt_password(client: VaultClient, tenant_id: str, version: int | None = None) -> Secret:
    """The admin password in clear, for the installer (needs transit decrypt on ``smtp-admin``)."""
    record = kv.read(client, paths.smtp_admin(tenant_id), version)
    return decrypt(client, str(record.data["encrypted_password"]))


def read_admin_credential(client: VaultClient, tenant_id: str) -> StoredCredential:
    record = kv.read(client, paths.smtp_admin(tenant_id))
    return StoredCredential(
        record.path.logical, record.version, str(record.data["username"]), str(record.data["webmail_url"])
    )
