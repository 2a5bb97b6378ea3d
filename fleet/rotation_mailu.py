"""Mailu-side steps of a rotation, through the installer's own mechanisms (nothing Mailu-specific is re-invented).

- ``set_admin_password``: the installer's admin-account step: ``flask mailu config-import --update`` with the
  YAML on stdin of ``docker compose exec -T admin``, then the PBKDF2 marker ``/etc/pm-mail-infra/mailu-admin``.
- ``converge``: a full idempotent installer run with the tenant's config (e.g. a new ``DKIM_SELECTOR``): it
  rewrites mailu.env and the DKIM key file and recreates/restarts only the services those changes affect.
  The tenant user's authorized_keys are passed as they are on the host, so an open SSH grace window survives.
- ``login_check``: an IMAPS login with the admin credential; reports "unreachable" when nothing listens on 993
  (the sandbox runs no Mailu), which the caller reports as "not verified".
"""

from __future__ import annotations

import contextlib
import imaplib
import secrets
import ssl
from dataclasses import dataclass

from mailu.config import MailuConfig
from mailu.files import DesiredDir, sync_dirs
from mailu.hardening import HardeningConfig
from mailu.installer import (
    ADMIN_MARKER,
    COMPOSE,
    InstallReport,
    InstallRequest,
    MailuInstaller,
    admin_import_yaml,
    admin_marker,
    admin_marker_matches,
)
from mailu.secrets import SecretRefs
from toolkit.redact import Secret
from toolkit.ssh import RemoteExecutor, quote_all
from toolkit.tenant_config import TenantConfig
from toolkit.tenant_files import AUTHORIZED_KEYS, TenantFiles
from vault import paths
from vault.client import VaultClient
from vault.mailu_secrets import VaultMailuSecrets, mailu_secret_key_path


def set_admin_password(executor: RemoteExecutor, config: MailuConfig, password: Secret) -> None:
    executor.register_secret(password)
    executor.run(
        quote_all([*COMPOSE, "exec", "-T", "admin", "flask", "mailu", "config-import", "--update", "--quiet", "-"]),
        stdin=admin_import_yaml(config, password),
    )
    sync_dirs(executor, [DesiredDir("/etc/pm-mail-infra", 0o755)])
    executor.put_file(ADMIN_MARKER, admin_marker(config.admin_email, password, secrets.token_bytes(16)).encode(),
                      mode=0o600)


def admin_marker_is(executor: RemoteExecutor, config: MailuConfig, password: Secret) -> bool:
    marker = executor.read_file_if_exists(ADMIN_MARKER)
    return marker is not None and admin_marker_matches(marker.decode(errors="replace"), config.admin_email, password)


def tenant_keys_on_host(executor: RemoteExecutor, tenant: TenantConfig) -> tuple[str, ...]:
    """The tenant user's authorized_keys lines, read AS the tenant (a link planted in its home shows nothing of
    root's). The tenant wrote them: they are only ever written back to its own file."""
    text = TenantFiles(executor, tenant.tenant_user).read(AUTHORIZED_KEYS) or ""
    return tuple(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def converge(executor: RemoteExecutor, vault: VaultClient, tenant: TenantConfig, *,
             health_timeout: float = 600.0) -> InstallReport:
    """Run the installer for ``tenant`` (its stack config as it is now) with the latest secrets from Vault."""
    refs = SecretRefs(
        admin_ssh_path=paths.admin_ssh(tenant.tenant_id).logical,
        dkim_path=paths.dkim(tenant.domain, tenant.dkim_selector).logical,
        smtp_admin_path=paths.smtp_admin(tenant.tenant_id).logical,
        mailu_secret_key_path=mailu_secret_key_path(tenant.tenant_id).logical,
    )
    loaded = VaultMailuSecrets(vault, refs)
    request = InstallRequest(
        config=MailuConfig.from_tenant_config(tenant),
        hardening=HardeningConfig(tenant_id=tenant.tenant_id, tenant_public_keys=tenant_keys_on_host(executor, tenant)),
        secret_key=loaded.mailu_secret_key(), dkim_private_key=loaded.dkim_private_key(),
        admin_password=loaded.admin_password(),
    )
    return MailuInstaller(executor, health_timeout=health_timeout).install(request)


@dataclass(frozen=True)
class LoginCheck:
    status: str  # "ok" | "rejected" | "unreachable"
    detail: str


def login_check(server_name: str, username: str, password: Secret, *, port: int = 993,
                timeout: float = 5.0) -> LoginCheck:
    """IMAPS login as the admin at ``mail.<domain>`` (name resolved as mail clients do, TLS verified)."""
    try:
        client = imaplib.IMAP4_SSL(server_name, port, ssl_context=ssl.create_default_context(), timeout=timeout)
    except OSError as exc:  # no DNS answer, refused, timeout, TLS failure
        return LoginCheck("unreachable", f"{server_name}:{port}: {type(exc).__name__}: {exc}")
    try:
        client.login(username, password.reveal())
    except imaplib.IMAP4.error:
        return LoginCheck("rejected", f"{username} was refused by {server_name}:{port}")
    finally:
        with contextlib.suppress(imaplib.IMAP4.error, OSError):
            client.logout()
    return LoginCheck("ok", f"IMAPS login as {username} at {server_name}:{port}")
