"""Prove the Mailu admin password from outside: an IMAPS login at ``mail.<domain>``, as a mail client does.

"unreachable" (no DNS answer, nothing listening on 993, TLS failure) means the password could not be verified here:
callers report it as unverified, never as success.
"""

from __future__ import annotations

import contextlib
import imaplib
import ssl
from dataclasses import dataclass

from toolkit.redact import Secret
from toolkit.tenant_config import TenantConfig
from vault import kv, paths, smtp
from vault.client import VaultClient


@dataclass(frozen=True)
class LoginCheck:
    status: str  # "ok" | "rejected" | "unreachable"
    detail: str


def login_check(server_name: str, username: str, password: Secret, *, port: int = 993,
                timeout: float = 5.0) -> LoginCheck:
    try:
        client = imaplib.IMAP4_SSL(server_name, port, ssl_context=ssl.create_default_context(), timeout=timeout)
    except OSError as exc:
        return LoginCheck("unreachable", f"{server_name}:{port}: {type(exc).__name__}: {exc}")
    try:
        client.login(username, password.reveal())
    except imaplib.IMAP4.error:
        return LoginCheck("rejected", f"{username} was refused by {server_name}:{port}")
    finally:
        with contextlib.suppress(imaplib.IMAP4.error, OSError):
            client.logout()
    return LoginCheck("ok", f"IMAPS login as {username} at {server_name}:{port}")


def smtp_login(vault: VaultClient, config: TenantConfig) -> LoginCheck:
    """Log in with the password Vault holds now (the one the engine just set in Mailu)."""
    record = kv.read(vault, paths.smtp_admin(config.tenant_id))
    password = smtp.decrypt(vault, str(record.data["encrypted_password"]))
    return login_check(config.mail_host, str(record.data["username"]), password)
