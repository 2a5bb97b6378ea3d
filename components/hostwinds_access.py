"""After a VPS is created: prove that root accepts the admin key, before anything else touches the host.

The admin public key reaches the VPS through ``add_ssh_key`` (a name) and ``add_instance`` (``keys[]``). Which form
field of ``add_ssh_key`` carries the public key is a guess (``PM_HOSTWINDS_SSH_KEY_FIELD``): if the API ignored it,
the VPS would boot without the key, and the Mailu install would fail later with an SSH error that names nothing.
So the ``Instance`` provider checks right after create:

1. log in as root with the admin key (read from Vault at run time, never an input or in state);
2. refused: the first-boot fallback, once: log in with the root password the API returns for a new instance
   (``get_instance`` ``password``) and append the admin public key to root's ``authorized_keys`` (``RootAccess``
   later writes the exact key set), then log in with the key again;
3. still refused, or no password: ``AdminKeyRefused``, saying what to check (the field setting, ``invoke
   hostwinds.probe``), before Mailu or DNS are touched. The VPS is kept: the next ``pulumi up`` adopts it by its
   label and checks again (a VPS that never got the key is terminated by hand, then ``up`` builds a new one).

Host keys are accepted on first use by the key login (nothing secret is sent by a public-key login); the password
is then sent only to a host showing that same host key, at the address the API reports for the instance it just
created.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

import paramiko

from toolkit.errors import ToolkitError
from toolkit.redact import Secret, scrub
from toolkit.ssh import KnownHosts, SshAuthError, SshError, SshExecutor, load_private_key


class AdminKeyRefused(ToolkitError):
    """The new VPS does not accept the admin key (and the first-boot fallback could not install it)."""


@dataclass(frozen=True)
class AccessCheck:
    host: str
    via: str  # "key" (accepted at once) or "password" (installed by the first-boot fallback)


def public_line(private_key: Secret) -> str:
    key = load_private_key(private_key)
    return f"{key.get_name()} {key.get_base64()}"


def _key_login(host: str, key: Secret, port: int, timeout: float, known: KnownHosts) -> None:
    executor = SshExecutor(host, key, port=port, known_hosts=known, connect_timeout=min(10.0, timeout),
                           boot_timeout=timeout, command_timeout=60.0)
    with executor:
        executor.run("true")


def install_with_password(host: str, password: Secret, public_key: str, host_keys: list[str], port: int = 22,
                          timeout: float = 20.0) -> None:
    """Log in as root with ``password`` once, to a host showing one of ``host_keys`` (known_hosts lines), and append
    ``public_key`` to root's authorized_keys."""
    if "\n" in public_key or not public_key.startswith(("ssh-", "ecdsa-", "sk-")):
        raise AdminKeyRefused("the admin public key is not one OpenSSH key line")
    pinned = KnownHosts(lines=host_keys).entries()
    if not pinned:
        raise AdminKeyRefused(f"{host} showed no host key to pin; the root password is not sent to an unknown host")
    quoted = shlex.quote(public_key)
    script = ("umask 077 && mkdir -p /root/.ssh && touch /root/.ssh/authorized_keys && "
              f"(grep -qxF {quoted} /root/.ssh/authorized_keys || printf '%s\\n' {quoted} >> "
              "/root/.ssh/authorized_keys)")
    client = paramiko.SSHClient()
    for entry in pinned:
        for name in entry.hostnames:
            client.get_host_keys().add(name, entry.key.get_name(), entry.key)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        client.connect(host, port=port, username="root", password=password.reveal(), allow_agent=False,
                       look_for_keys=False, timeout=timeout, banner_timeout=timeout, auth_timeout=timeout)
        _stdin, stdout, stderr = client.exec_command(script, timeout=timeout)
        if stdout.channel.recv_exit_status() != 0:
            raise AdminKeyRefused(f"root@{host}: adding the key failed: {stderr.read().decode()[-200:]}")
    except paramiko.AuthenticationException:
        raise AdminKeyRefused(f"root@{host} refuses the root password too (password logins are off, or the "
                              "password was changed)") from None
    except (OSError, paramiko.SSHException) as exc:
        raise AdminKeyRefused(f"root@{host}: password login failed ({type(exc).__name__}: "
                              f"{scrub(str(exc))})") from None
    finally:
        client.close()


def check_admin_access(host: str, admin_key: Secret, *, password: Secret | None, key_names: list[str],
                       key_field: str, port: int = 22, timeout: float = 120.0) -> AccessCheck:
    """Root on ``host`` accepts ``admin_key`` (after the first-boot fallback if needed), else AdminKeyRefused."""
    known = KnownHosts(trust_on_first_use=True)
    try:
        _key_login(host, admin_key, port, timeout, known)
        return AccessCheck(host, "key")
    except SshAuthError as exc:
        refused = scrub(str(exc))
    except SshError as exc:
        raise AdminKeyRefused(f"the new VPS at {host} did not answer SSH ({scrub(str(exc))}); nothing was installed "
                              "on it: run `pulumi up` again once it answers") from None
    fallback = "the API returned no root password for the fallback"
    if password is not None:
        try:
            install_with_password(host, password, public_line(admin_key), known.recorded, port=port,
                                  timeout=min(30.0, timeout))
            _key_login(host, admin_key, port, min(30.0, timeout), KnownHosts(lines=list(known.recorded)))
            return AccessCheck(host, "password")
        except (AdminKeyRefused, SshError) as exc:
            fallback = f"the root-password fallback failed: {scrub(str(exc))}"
    names = ", ".join(key_names) or "(none)"
    raise AdminKeyRefused(
        f"the new VPS at {host} refuses the admin key registered with Hostwinds as {names} ({refused}); "
        f"{fallback}. The public key is sent to add_ssh_key in the form field {key_field!r}, which no public "
        "source confirms (PM_HOSTWINDS_SSH_KEY_FIELD): run `invoke hostwinds.probe` and see hostwinds/CONTRACT.md. "
        "Nothing was installed on the VPS; it is kept: the next `pulumi up` adopts it by its label and checks again "
        "(if it still refuses the key, terminate it in the Hostwinds portal and run `pulumi up` again)")
