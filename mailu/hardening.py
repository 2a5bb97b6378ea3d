"""Host hardening of a tenant VPS, as data: the files to place and the firewall policy to enforce.

Decisions (requirements section 2 and 7):
- **Root login**: ``PermitRootLogin prohibit-password``. The toolkit itself logs in as root with the admin key
  (from Vault; Hostwinds installs it for root at creation; rotation edits root's authorized_keys). Forbidding root
  entirely would need a second privileged account with passwordless sudo, which is the same power behind one
  more hop and one more key to rotate. With passwords disabled for everyone, root is reachable only with the
  admin key, never with a password: that is how "no root login" is read here.
- **Passwords**: ``PasswordAuthentication no`` and ``KbdInteractiveAuthentication no`` for every user.
- The drop-in is ``/etc/ssh/sshd_config.d/00-pm-hardening.conf``: sshd keeps the *first* value it reads, and the
  ``00-`` prefix sorts before cloud-init's ``50-cloud-init.conf`` (which may enable passwords).
- **Firewall** (ufw): deny incoming by default, allow the SSH port and the mail ports 25, 80, 443, 465, 587, 993
  (``mailu.ports``, the one list DNS, compose and Mailu's ``PORTS`` also come from). Docker-published ports bypass
  ufw, which is why the compose file publishes exactly these ports.
- **fail2ban**: 5 failures within 10 min -> 1 h ban (sshd and Mailu's login failures); ``recidive``: a second ban
  within 24 h -> 24 h ban. Mailu's ports are Docker-published, so that jail bans in the ``DOCKER-USER`` chain.
- **Tenant user** ``tenant-<first 8 chars of tenant id>`` with its public key(s), no password, no sudo.
- **Unattended upgrades**: the ``unattended-upgrades`` package with periodic list updates and upgrades enabled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hostops.files import DesiredDir, DesiredFile
from hostops.sshd import HARDENED_DROPIN, hardened_dropin
from mailu.ports import MAIL_PORTS
from toolkit import validate
from toolkit.errors import ValidationError

SSHD_DROPIN = HARDENED_DROPIN
JAIL_FILE = "/etc/fail2ban/jail.d/pm-hardening.local"
FILTER_FILE = "/etc/fail2ban/filter.d/pm-mailu-auth.conf"
ACTION_FILE = "/etc/fail2ban/action.d/pm-docker-user.conf"
AUTO_UPGRADES_FILE = "/etc/apt/apt.conf.d/20auto-upgrades"
FIREWALL_MARKER = "/etc/pm-mail-infra/firewall.conf"
_PUBLIC_KEY = re.compile(r"(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(?:256|384|521)) [A-Za-z0-9+/=]+(?: [^\n\r]*)?")


@dataclass(frozen=True)
class HardeningConfig:
    tenant_id: str
    tenant_public_keys: tuple[str, ...] = ()
    ssh_port: int = 22
    max_retry: int = 5
    find_time: int = 600
    ban_time: int = 3600
    recidive_ban_time: int = 86_400
    recidive_find_time: int = 86_400
    recidive_max_retry: int = 2

    def __post_init__(self) -> None:
        validate.tenant_id(self.tenant_id, "hardening.tenant_id")
        for key in self.tenant_public_keys:
            if not _PUBLIC_KEY.fullmatch(key.strip()):
                raise ValidationError("hardening.tenant_public_keys", f"{key[:40]!r}... is not an OpenSSH public key")
        if not 1 <= self.ssh_port <= 65535:
            raise ValidationError("hardening.ssh_port", f"{self.ssh_port} is not a TCP port")
        for name in ("max_retry", "find_time", "ban_time", "recidive_ban_time", "recidive_find_time",
                     "recidive_max_retry"):
            if getattr(self, name) <= 0:
                raise ValidationError(f"hardening.{name}", "must be positive")

    @property
    def tenant_user(self) -> str:
        return validate.linux_tenant_user(self.tenant_id)

    @property
    def allowed_tcp_ports(self) -> tuple[int, ...]:
        return tuple(sorted({self.ssh_port, *MAIL_PORTS}))


def sshd_dropin() -> str:
    return hardened_dropin()


def fail2ban_jail(config: HardeningConfig) -> str:
    ports = ",".join(str(p) for p in MAIL_PORTS)
    return (
        "# Managed by pm-mail-infra.\n"
        "[DEFAULT]\n"
        f"maxretry = {config.max_retry}\n"
        f"findtime = {config.find_time}\n"
        f"bantime = {config.ban_time}\n"
        "backend = systemd\n"
        "\n"
        "[sshd]\n"
        "enabled = true\n"
        f"port = {config.ssh_port}\n"
        "\n"
        "[pm-mailu-auth]\n"
        "enabled = true\n"
        "filter = pm-mailu-auth\n"
        f"action = pm-docker-user[name=pm-mailu-auth, port=\"{ports}\"]\n"
        "\n"
        "# A second ban within a day: banned for a day (every port).\n"
        "[recidive]\n"
        "enabled = true\n"
        "backend = auto\n"
        "logpath = /var/log/fail2ban.log\n"
        f"maxretry = {config.recidive_max_retry}\n"
        f"findtime = {config.recidive_find_time}\n"
        f"bantime = {config.recidive_ban_time}\n"
    )


def fail2ban_filter() -> str:
    return (
        "# Managed by pm-mail-infra: failed logins reported by Mailu's front (mail protocols) and admin (web).\n"
        "[Definition]\n"
        "failregex = client login failed: .* client: <HOST>,\n"
        "            Authentication attempt from <HOST>(?: for \\S+)? has been rate-limited\n"
        "ignoreregex =\n"
        "journalmatch = CONTAINER_TAG=mailu-front + CONTAINER_TAG=mailu-admin\n"
    )


def fail2ban_docker_action() -> str:
    ports = ",".join(str(p) for p in MAIL_PORTS)
    return (
        "# Managed by pm-mail-infra: ban in Docker's DOCKER-USER chain (published ports bypass INPUT).\n"
        "[Definition]\n"
        "actionstart = iptables -N f2b-<name>\n"
        "              iptables -A f2b-<name> -j RETURN\n"
        "              iptables -I DOCKER-USER -p tcp -m multiport --dports <port> -j f2b-<name>\n"
        "actionstop = iptables -D DOCKER-USER -p tcp -m multiport --dports <port> -j f2b-<name>\n"
        "             iptables -F f2b-<name>\n"
        "             iptables -X f2b-<name>\n"
        "actioncheck = iptables -n -L DOCKER-USER | grep -q 'f2b-<name>[ \\t]'\n"
        "actionban = iptables -I f2b-<name> 1 -s <ip> -j DROP\n"
        "actionunban = iptables -D f2b-<name> -s <ip> -j DROP\n"
        "\n"
        "[Init]\n"
        "name = default\n"
        f"port = {ports}\n"
    )


def auto_upgrades() -> str:
    return (
        "// Managed by pm-mail-infra: refresh package lists and install security upgrades daily.\n"
        'APT::Periodic::Update-Package-Lists "1";\n'
        'APT::Periodic::Unattended-Upgrade "1";\n'
    )


def firewall_policy(config: HardeningConfig) -> str:
    """The policy as text; also stored on the host as the marker of what was last applied."""
    ports = " ".join(f"{p}/tcp" for p in config.allowed_tcp_ports)
    return (
        "# Managed by pm-mail-infra: the ufw policy last applied to this host.\n"
        "default incoming deny\n"
        "default outgoing allow\n"
        f"allow {ports}\n"
    )


def hardening_dirs(config: HardeningConfig) -> list[DesiredDir]:
    """Root's directories only. The tenant's home is never converged as root (``sync_dirs`` would follow a link
    the tenant planted): ``toolkit.tenant_files`` does it as the tenant."""
    return [
        DesiredDir("/etc/ssh/sshd_config.d", 0o755),
        DesiredDir("/etc/fail2ban", 0o755),
        DesiredDir("/etc/fail2ban/jail.d", 0o755),
        DesiredDir("/etc/fail2ban/filter.d", 0o755),
        DesiredDir("/etc/fail2ban/action.d", 0o755),
        DesiredDir("/etc/apt/apt.conf.d", 0o755),
        DesiredDir("/etc/pm-mail-infra", 0o755),
    ]


def tenant_authorized_keys(config: HardeningConfig) -> DesiredFile:
    """What the tenant's authorized_keys must hold (for the installer's digest and the tenant-user step). Written
    with ``toolkit.tenant_files`` as the tenant, never with ``sync_files``."""
    user = config.tenant_user
    content = "".join(key.strip() + "\n" for key in config.tenant_public_keys)
    return DesiredFile(f"/home/{user}/.ssh/authorized_keys", content.encode(), 0o600, owner=user, group=user)


def sshd_files() -> list[DesiredFile]:
    return [DesiredFile(SSHD_DROPIN, sshd_dropin().encode(), 0o644)]


def fail2ban_files(config: HardeningConfig) -> list[DesiredFile]:
    return [
        DesiredFile(JAIL_FILE, fail2ban_jail(config).encode(), 0o644),
        DesiredFile(FILTER_FILE, fail2ban_filter().encode(), 0o644),
        DesiredFile(ACTION_FILE, fail2ban_docker_action().encode(), 0o644),
    ]


def auto_upgrade_files() -> list[DesiredFile]:
    return [DesiredFile(AUTO_UPGRADES_FILE, auto_upgrades().encode(), 0o644)]


def firewall_files(config: HardeningConfig) -> list[DesiredFile]:
    return [DesiredFile(FIREWALL_MARKER, firewall_policy(config).encode(), 0o644)]
