"""Login users: an account that logs in with its SSH key only (no password), its authorized_keys written as the
user itself (``toolkit.tenant_files``: root never follows a path the user can write)."""

from __future__ import annotations

from hostops.services import Change
from toolkit.ssh import RemoteExecutor
from toolkit.tenant_files import AUTHORIZED_KEYS, TenantFiles


def ensure_key_login_user(executor: RemoteExecutor, user: str, authorized_keys: bytes) -> Change:
    """The account exists, takes key logins but no password, and authorizes exactly ``authorized_keys``."""
    details: list[str] = []
    if not executor.run(["id", "-u", user], check=False).ok:
        executor.run(["useradd", "--create-home", "--shell", "/bin/bash", "--user-group", user])
        details.append(f"created {user}")
    # useradd leaves the account locked ("!" password); sshd without PAM refuses locked accounts even with a valid
    # key. "*" keeps password login impossible while allowing key login.
    shadow = executor.run(["getent", "shadow", user], check=False)
    if shadow.ok and shadow.stdout.split(":")[1:2] and shadow.stdout.split(":")[1].startswith("!"):
        executor.run(["usermod", "--password", "*", user])
        details.append(f"unlocked {user} for key-only login")
    # The home is the user's: its directories and authorized_keys are written AS the user (root only makes sure
    # /home/<user> is a real directory of the user), so a link planted there reaches nothing of root's.
    details += TenantFiles(executor, user).write(AUTHORIZED_KEYS, authorized_keys).changes
    return Change(bool(details), "; ".join(details))
