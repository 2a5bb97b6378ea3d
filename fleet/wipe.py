"""Best-effort wipe of a VPS before it is terminated (old host of a migration, or a destroyed tenant).

Connects as root with the tenant's admin key, read from Vault into memory at run time, and removes what must not
outlive the machine: Mailu's tree (mail, DKIM keys, SECRET_KEY in its env file), the toolkit's markers under
/etc/pm-mail-infra, and every authorized_keys file (last, so the session is not cut short). Small secret files are
shredded first; bulk data is only unlinked (shredding gigabytes of mail on a virtual disk proves little and costs
the recovery time; the provider's terminate reclaims the disk).

Host keys: the old host's key is accepted on first use. Nothing secret is sent to it (public-key authentication
does not reveal the private key), so even a compromised host learns nothing by impersonation.
A host that does not answer within ``timeout`` seconds is reported, never raised: the caller terminates anyway.
"""

from __future__ import annotations

from dataclasses import dataclass

from toolkit.errors import ToolkitError
from toolkit.redact import scrub
from toolkit.ssh import KnownHosts, SshExecutor
from vault import keys
from vault.client import VaultClient
from vault.mailu_secrets import parse_path

SECRET_GLOBS = (
    "/mailu/dkim/*", "/mailu/certs/*", "/mailu/mailu.env", "/mailu/docker-compose.yml", "/etc/pm-mail-infra/*",
)
"""Small files holding secrets (or derived values): overwritten before unlinking."""
KEY_FILES = ("/root/.ssh/authorized_keys",)
TENANT_KEYS = (
    'for h in /home/*; do [ -d "$h" ] && [ ! -L "$h" ] || continue; '
    'u=$(stat -c %u -- "$h"); g=$(stat -c %g -- "$h"); [ "$u" -ge 1000 ] || continue; '
    'setpriv --reuid="$u" --regid="$g" --clear-groups rm -f -- "$h/.ssh/authorized_keys"; done; '
)
"""A tenant's keys are removed AS the tenant (root never follows a link planted in a tenant's home)."""

WIPE_SCRIPT = (
    "set +e; "
    "if [ -d /mailu ]; then (cd /mailu && docker compose down --timeout 10 >/dev/null 2>&1); fi; "
    f"for f in {' '.join(SECRET_GLOBS)}; do [ -f \"$f\" ] && shred -fzu -n 1 -- \"$f\"; done; "
    "rm -rf --one-file-system /mailu /etc/pm-mail-infra; "
    f"for f in {' '.join(KEY_FILES)}; do [ -f \"$f\" ] && shred -fzu -n 1 -- \"$f\"; done; "
    + TENANT_KEYS +
    "sync; "
    "if [ -e /mailu ]; then echo 'pm-wipe: /mailu still present' >&2; exit 1; fi; "
    "echo pm-wiped"
)


class WipeError(ToolkitError):
    """The wipe could not run (kept internal: ``wipe_host`` reports it as a result)."""


@dataclass(frozen=True)
class WipeResult:
    host: str
    ok: bool
    problem: str = ""


def wipe_host(host: str, admin_key_path: str, *, port: int = 22, timeout: float = 20.0) -> WipeResult:
    """Wipe ``host``; returns whether it worked and, if not, why (redacted). Never raises a ToolkitError."""
    try:
        with VaultClient.from_env() as vault:
            key = keys.read_private(vault, parse_path(admin_key_path, "wipe_key_path"))
        executor = SshExecutor(host, key, port=port, known_hosts=KnownHosts(trust_on_first_use=True),
                               connect_timeout=min(5.0, timeout), boot_timeout=timeout,
                               command_timeout=max(60.0, timeout))
        with executor:
            result = executor.run(WIPE_SCRIPT, check=False)
        if result.exit_code != 0 or "pm-wiped" not in result.stdout:
            raise WipeError(f"wipe script exited with {result.exit_code}: {result.stderr.strip()[-300:]}")
    except ToolkitError as exc:
        return WipeResult(host, False, scrub(str(exc)))
    return WipeResult(host, True)
