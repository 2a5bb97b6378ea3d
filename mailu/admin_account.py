"""Mailu's admin account and the postmaster address, set through ``flask mailu config-import``.

The import document holds the password, so it only ever travels on stdin (``mailu.installer``). Whether the account
is current is known from a marker on the host holding a salted PBKDF2 of what was imported (account, postmaster
alias, password): an unchanged credential does nothing, a rotated one is applied once.

``POSTMASTER`` (mailu.env) is a local part that must receive mail (bounces, DMARC and TLS reports go there, and
Mailu's certbot registers with it). When it is not the admin mailbox, the import also creates the alias
``<postmaster>@<domain>`` -> the admin mailbox.
"""

from __future__ import annotations

import hashlib
import hmac

import yaml

from mailu.config import MailuConfig
from toolkit.redact import Secret

ADMIN_MARKER = "/etc/pm-mail-infra/mailu-admin"
ADMIN_KDF_ITERATIONS = 100_000


def postmaster_alias(config: MailuConfig) -> str | None:
    """``postmaster@domain`` when it needs an alias (it is not the admin mailbox), else None."""
    return None if config.postmaster == config.admin_localpart else f"{config.postmaster}@{config.domain}"


def marker_account(config: MailuConfig) -> str:
    """What the marker stands for besides the password (the admin address, and the postmaster alias if any)."""
    alias = postmaster_alias(config)
    return config.admin_email if alias is None else f"{config.admin_email}\0alias:{alias}"


def admin_marker(email: str, password: Secret, salt: bytes, iterations: int = ADMIN_KDF_ITERATIONS) -> str:
    derived = hashlib.pbkdf2_hmac("sha256", f"{email}\0{password.reveal()}".encode(), salt, iterations)
    return f"pbkdf2_sha256${iterations}${salt.hex()}${derived.hex()}\n"


def admin_marker_matches(marker: str, email: str, password: Secret) -> bool:
    try:
        scheme, iterations, salt, _ = marker.strip().split("$")
        if scheme != "pbkdf2_sha256":
            return False
        expected = admin_marker(email, password, bytes.fromhex(salt), int(iterations))
    except ValueError:
        return False
    return hmac.compare_digest(expected.strip(), marker.strip())


def admin_import_yaml(config: MailuConfig, password: Secret) -> bytes:
    """The config-import document for the admin account and the postmaster alias (holds the password: stdin only)."""
    document: dict[str, object] = {
        "domain": [{"name": config.domain}],
        "user": [{
            "email": config.admin_email,
            "password": password.reveal(),
            "hash_password": True,
            "global_admin": True,
        }],
    }
    alias = postmaster_alias(config)
    if alias is not None:
        document["alias"] = [{"email": alias, "destination": [config.admin_email]}]
    return yaml.safe_dump(document, sort_keys=True).encode()
