"""The idempotent Mailu installer: a fixed plan of steps executed over SSH, each changing only what differs.

Steps, in order: packages, docker-service, mailu-tree, compose-file, env-file, dkim-key, mailu-up, mailu-health,
admin-account, firewall, fail2ban, sshd, tenant-user, unattended-upgrades. Each compares desired with actual
state (file SHA-256, mode, owner; service state; package presence) and reports ``changed`` only if it acted, so a
second run on a healthy host reports zero changes.

Restarts: first install -> ``docker compose up -d``. Later, only the services affected by what changed are
recreated (``up -d --no-deps <services>``, see ``mailu.restart``); a new DKIM key restarts ``antispam``.

Admin account (decision): set through ``flask mailu config-import --update -`` inside the admin container, with the
YAML (holding the password) on stdin of ``docker compose exec -T``: the password is on no command line (host or
container) and in no file. ``INITIAL_ADMIN_PW`` in mailu.env was rejected: Mailu's admin start script passes it
to a shell command line inside the container, and it would sit in mailu.env forever. Whether the account is current
is known from a marker ``/etc/pm-mail-infra/mailu-admin`` (mode 0600) holding a salted PBKDF2 of account+password,
so a run with an unchanged credential does nothing and a rotated one is applied once.

Secrets (SECRET_KEY inside mailu.env, the DKIM key, the admin password) reach the host only through stdin of the
SSH channel; they are registered with the executor, which refuses any command line containing them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from mailu import hardening
from mailu.config import COMPOSE_PROJECT, INSTALL_ROOT, MailuConfig
from mailu.errors import MailuHealthError, MailuInstallError
from mailu.files import DesiredDir, DesiredFile, FileChange, files_digest, sync_dirs, sync_files
from mailu.hardening import HardeningConfig
from mailu.render import COMPOSE_PATH, ENV_PATH, parse_env, render
from mailu.restart import DKIM_KEY_SERVICES, compose_services, env_services, services_with_env_file
from toolkit.errors import ToolkitError
from toolkit.redact import Secret
from toolkit.ssh import RemoteExecutor, quote_all
from toolkit.tenant_files import AUTHORIZED_KEYS, TenantFiles

ADMIN_MARKER = "/etc/pm-mail-infra/mailu-admin"
ADMIN_KDF_ITERATIONS = 100_000
COMPOSE: tuple[str, ...] = ("docker", "compose", "--project-name", COMPOSE_PROJECT, "--file", COMPOSE_PATH)
APT_ENV = "DEBIAN_FRONTEND=noninteractive"

PACKAGE_PROBES: dict[str, str] = {
    "docker": "command -v docker",
    "compose": "docker compose version",
    "ufw": "command -v ufw",
    "fail2ban": "command -v fail2ban-client",
    "unattended-upgrades": "command -v unattended-upgrade",
}
DISTRO_PACKAGES: dict[str, dict[str, tuple[str, ...]]] = {
    # Docker from the distribution; compose v2 is `docker-compose-v2` on Ubuntu, `docker-compose` on Debian >= 13.
    "ubuntu": {"docker": ("docker.io",), "compose": ("docker-compose-v2",)},
    "debian": {"docker": ("docker.io",), "compose": ("docker-compose",)},
}
COMMON_PACKAGES: dict[str, tuple[str, ...]] = {
    "ufw": ("ufw",),
    "fail2ban": ("fail2ban", "python3-systemd"),
    "unattended-upgrades": ("unattended-upgrades",),
}


@dataclass(frozen=True)
class InstallRequest:
    """Everything one install run needs. Secrets are ``Secret`` values: they never show in repr."""

    config: MailuConfig
    hardening: HardeningConfig
    secret_key: Secret
    dkim_private_key: Secret
    admin_password: Secret


@dataclass(frozen=True)
class StepResult:
    name: str
    changed: bool
    detail: str = ""


@dataclass(frozen=True)
class InstallReport:
    host: str
    steps: tuple[StepResult, ...]
    restarted: tuple[str, ...]
    files_digest: str

    @property
    def changed_steps(self) -> tuple[str, ...]:
        return tuple(step.name for step in self.steps if step.changed)

    @property
    def change_count(self) -> int:
        return len(self.changed_steps)


@dataclass
class _RunState:
    """What earlier steps learned, for later steps of the same run."""

    old_compose: dict[str, Any] | None = None
    old_env: dict[str, str] | None = None
    compose_changed: bool = False
    env_changed: bool = False
    dkim_changed: bool = False
    restarted: list[str] = field(default_factory=list)


def mailu_dirs(config: MailuConfig) -> list[DesiredDir]:
    """The /mailu tree. Data volumes are create-only: Mailu's containers chown them to their own users."""
    root = INSTALL_ROOT
    dirs = [
        DesiredDir(root, 0o755),
        DesiredDir(f"{root}/dkim", 0o700, enforce=False),
        DesiredDir(f"{root}/overrides", 0o755),
    ]
    overrides = ["nginx", "dovecot", "postfix", "rspamd"]
    if config.webmail != "none":
        overrides.append(config.webmail)
    dirs += [DesiredDir(f"{root}/overrides/{name}", 0o755) for name in overrides]
    volumes = ["certs", "data", "mail", "mailqueue", "filter", "redis"]
    if config.webmail != "none":
        volumes.append("webmail")
    if config.antivirus:
        volumes.append("clamav")
    dirs += [DesiredDir(f"{root}/{name}", 0o755, enforce=False) for name in volumes]
    return dirs


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
    """The config-import document for the admin account (holds the password: stdin only)."""
    document = {
        "domain": [{"name": config.domain}],
        "user": [{
            "email": config.admin_email,
            "password": password.reveal(),
            "hash_password": True,
            "global_admin": True,
        }],
    }
    return yaml.safe_dump(document, sort_keys=True).encode()


def parse_compose_ps(text: str) -> dict[str, tuple[str, str]]:
    """service -> (state, health) from ``docker compose ps --format json`` (JSON lines or one array)."""
    text = text.strip()
    if not text:
        return {}
    items: list[Any]
    if text.startswith("["):
        items = json.loads(text)
    else:
        items = [json.loads(line) for line in text.splitlines() if line.strip()]
    out: dict[str, tuple[str, str]] = {}
    for item in items:
        if isinstance(item, dict) and item.get("Service"):
            out[str(item["Service"])] = (str(item.get("State", "")).lower(), str(item.get("Health", "")).lower())
    return out


class MailuInstaller:
    """Runs the install plan on one host through a ``RemoteExecutor`` (``toolkit.ssh.SshExecutor``)."""

    def __init__(
        self,
        executor: RemoteExecutor,
        *,
        health_timeout: float = 600.0,
        health_interval: float = 3.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ex = executor
        self._health_timeout = health_timeout
        self._health_interval = health_interval
        self._sleep = sleep
        self._clock = clock

    def install(self, request: InstallRequest) -> InstallReport:
        self._ex.register_secret(request.secret_key, request.dkim_private_key, request.admin_password)
        config = request.config
        rendered = render(config, request.secret_key)
        state = _RunState()
        compose_file = DesiredFile(COMPOSE_PATH, rendered.compose, 0o644)
        env_file = DesiredFile(ENV_PATH, rendered.env, 0o600, secret=True)
        dkim_pem = request.dkim_private_key.reveal().encode()
        if b"PRIVATE KEY-----" not in dkim_pem:
            raise MailuInstallError("dkim-key", "the DKIM private key is not PEM text")
        steps: list[tuple[str, Callable[[], StepResult]]] = [
            ("packages", self._packages),
            ("docker-service", lambda: self._service("docker-service", "docker", restart=False)),
            ("mailu-tree", lambda: self._dirs("mailu-tree", mailu_dirs(config))),
            ("compose-file", lambda: self._compose_file(compose_file, state)),
            ("env-file", lambda: self._env_file(env_file, state)),
            ("dkim-key", lambda: self._dkim_key(config, dkim_pem, state)),
            ("mailu-up", lambda: self._up(config, rendered.compose, rendered.env, state)),
            ("mailu-health", lambda: self._health(config)),
            ("admin-account", lambda: self._admin(config, request.admin_password)),
            ("firewall", lambda: self._firewall(request.hardening)),
            ("fail2ban", lambda: self._files_and_service(
                "fail2ban", hardening.fail2ban_files(request.hardening), "fail2ban", restart=True)),
            ("sshd", self._sshd),
            ("tenant-user", lambda: self._tenant_user(request.hardening)),
            ("unattended-upgrades", lambda: self._files_and_service(
                "unattended-upgrades", hardening.auto_upgrade_files(), "unattended-upgrades", restart=False)),
        ]
        results: list[StepResult] = []
        for name, step in steps:
            try:
                results.append(step())
            except MailuInstallError:
                raise
            except ToolkitError as exc:
                raise MailuInstallError(name, str(exc)) from exc
        managed = [compose_file, env_file, DesiredFile(config.dkim_key_path, dkim_pem, 0o600, secret=True),
                   *hardening.fail2ban_files(request.hardening), *hardening.sshd_files(),
                   *hardening.auto_upgrade_files(), *hardening.firewall_files(request.hardening),
                   hardening.tenant_authorized_keys(request.hardening)]
        return InstallReport(host=self._ex.host, steps=tuple(results), restarted=tuple(state.restarted),
                             files_digest=files_digest(managed))

    # --- steps ---------------------------------------------------------------------------------------------

    def _packages(self) -> StepResult:
        probes = "; ".join(
            f"if {probe} >/dev/null 2>&1; then echo 'ok {name}'; else echo 'missing {name}'; fi"
            for name, probe in PACKAGE_PROBES.items()
        )
        result = self._ex.run(f"{probes}; (. /etc/os-release 2>/dev/null && echo \"os $ID\") || echo 'os unknown'")
        missing = [line.split(" ", 1)[1] for line in result.stdout.splitlines() if line.startswith("missing ")]
        os_id = next((line[3:] for line in result.stdout.splitlines() if line.startswith("os ")), "unknown")
        if not missing:
            return StepResult("packages", False)
        packages: list[str] = []
        for name in missing:
            if name in COMMON_PACKAGES:
                packages += COMMON_PACKAGES[name]
            elif os_id in DISTRO_PACKAGES:
                packages += DISTRO_PACKAGES[os_id][name]
            else:
                raise MailuInstallError(
                    "packages", f"{name} is missing and this installer knows no Docker packages for OS {os_id!r} "
                    "(supported: ubuntu, debian); install Docker with the compose plugin first")
        packages = sorted(set(packages))
        self._ex.run(f"{APT_ENV} apt-get update -q")
        self._ex.run(f"{APT_ENV} apt-get install -y -q " + quote_all(packages))
        return StepResult("packages", True, "installed " + " ".join(packages))

    def _service(self, step: str, unit: str, *, restart: bool) -> StepResult:
        """Enable and start ``unit`` if needed; with ``restart``, restart it (after its config changed)."""
        if restart:
            self._ex.run(quote_all(["systemctl", "enable", unit]) + "; " + quote_all(["systemctl", "restart", unit]))
            return StepResult(step, True, f"restarted {unit}")
        probe = self._ex.run(quote_all(["systemctl", "is-active", unit]) + "; "
                             + quote_all(["systemctl", "is-enabled", unit]), check=False)
        states = probe.stdout.split()
        if states[:2] == ["active", "enabled"]:
            return StepResult(step, False)
        self._ex.run(quote_all(["systemctl", "enable", "--now", unit]))
        return StepResult(step, True, f"enabled and started {unit}")

    def _dirs(self, step: str, dirs: list[DesiredDir]) -> StepResult:
        changed = sync_dirs(self._ex, dirs)
        return StepResult(step, bool(changed), ", ".join(changed))

    def _files(self, step: str, files: list[DesiredFile]) -> tuple[StepResult, list[FileChange]]:
        changes = sync_files(self._ex, files)
        detail = ", ".join(f"{c.path} ({'content' if c.content_changed else 'mode/owner'})" for c in changes)
        return StepResult(step, bool(changes), detail), changes

    def _compose_file(self, wanted: DesiredFile, state: _RunState) -> StepResult:
        old = self._ex.read_file_if_exists(wanted.path)
        if old is not None:
            try:
                parsed = yaml.safe_load(old.decode("utf-8", errors="replace"))
            except yaml.YAMLError:
                parsed = None
            state.old_compose = parsed if isinstance(parsed, dict) else {}
        result, changes = self._files("compose-file", [wanted])
        state.compose_changed = any(c.content_changed for c in changes)
        return result

    def _env_file(self, wanted: DesiredFile, state: _RunState) -> StepResult:
        old = self._ex.read_file_if_exists(wanted.path)
        if old is not None:
            try:
                state.old_env = parse_env(old.decode("utf-8", errors="replace"))
            except ToolkitError:
                state.old_env = {}
            self._ex.register_secret(state.old_env.get("SECRET_KEY"))
        result, changes = self._files("env-file", [wanted])
        state.env_changed = any(c.content_changed for c in changes)
        return result

    def _dkim_key(self, config: MailuConfig, pem: bytes, state: _RunState) -> StepResult:
        # Mailu's admin container chowns /dkim to its own user at start: the key takes the directory's owner,
        # as admin would, so it stays readable without restarting admin.
        directory = self._ex.file_stats([f"{INSTALL_ROOT}/dkim"])[f"{INSTALL_ROOT}/dkim"]
        owner, group = ("root", "root") if directory is None else (str(directory.uid), str(directory.gid))
        wanted = DesiredFile(config.dkim_key_path, pem, 0o600, owner=owner, group=group, secret=True)
        result, changes = self._files("dkim-key", [wanted])
        state.dkim_changed = any(c.content_changed for c in changes)
        return result

    def _running(self) -> dict[str, tuple[str, str]]:
        result = self._ex.run(quote_all([*COMPOSE, "ps", "--all", "--format", "json"]))
        try:
            return parse_compose_ps(result.stdout)
        except ValueError as exc:
            raise MailuInstallError("mailu-up", f"cannot parse `docker compose ps` output: {exc}") from None

    def _up(self, config: MailuConfig, compose: bytes, env: bytes, state: _RunState) -> StepResult:
        expected = set(config.services())
        running = {name for name, (st, _) in self._running().items() if st == "running"}
        if state.old_compose is None or state.old_env is None or not running:
            self._ex.run(quote_all([*COMPOSE, "up", "-d", "--remove-orphans"]))
            state.restarted = sorted(expected)
            return StepResult("mailu-up", True, "started every service")
        new_doc: dict[str, Any] = yaml.safe_load(compose.decode())
        affected: set[str] = set()
        removed = False
        if state.compose_changed:
            changed, removed = compose_services(state.old_compose, new_doc)
            affected |= changed
        if state.env_changed:
            new_env = parse_env(env.decode())
            affected |= env_services(services_with_env_file(new_doc), state.old_env, new_env)
        affected |= expected - running
        actions: list[str] = []
        if affected or removed:
            flags = ["--no-deps"] + (["--remove-orphans"] if removed else [])
            self._ex.run(quote_all([*COMPOSE, "up", "-d", *flags, *sorted(affected)]))
            actions.append("recreated " + (" ".join(sorted(affected)) or "(orphans removed)"))
        if state.dkim_changed and not set(DKIM_KEY_SERVICES) <= affected:
            self._ex.run(quote_all([*COMPOSE, "restart", *DKIM_KEY_SERVICES]))
            actions.append("restarted " + " ".join(DKIM_KEY_SERVICES))
            affected |= set(DKIM_KEY_SERVICES)
        state.restarted = sorted(affected)
        return StepResult("mailu-up", bool(actions), "; ".join(actions))

    def _health(self, config: MailuConfig) -> StepResult:
        expected = set(config.services())
        deadline = self._clock() + self._health_timeout
        while True:
            status = self._running()
            pending = sorted(
                name for name in expected
                if status.get(name, ("missing", ""))[0] != "running"
                or status.get(name, ("", ""))[1] not in ("", "healthy")
            )
            if not pending:
                return StepResult("mailu-health", False, "all services running and healthy")
            if self._clock() >= deadline:
                detail = ", ".join(f"{n}={'/'.join(status.get(n, ('missing', '')))}" for n in pending)
                raise MailuHealthError("mailu-health", f"not healthy after {self._health_timeout:.0f} s: {detail}")
            self._sleep(self._health_interval)

    def _admin(self, config: MailuConfig, password: Secret) -> StepResult:
        marker = self._ex.read_file_if_exists(ADMIN_MARKER)
        if marker is not None and admin_marker_matches(marker.decode(errors="replace"), config.admin_email, password):
            return StepResult("admin-account", False)
        self._ex.run(
            quote_all([*COMPOSE, "exec", "-T", "admin", "flask", "mailu", "config-import", "--update", "--quiet", "-"]),
            stdin=admin_import_yaml(config, password),
        )
        sync_dirs(self._ex, [DesiredDir("/etc/pm-mail-infra", 0o755)])
        new_marker = admin_marker(config.admin_email, password, secrets.token_bytes(16))
        self._ex.put_file(ADMIN_MARKER, new_marker.encode(), mode=0o600)
        return StepResult("admin-account", True, f"set {config.admin_email}")

    def _firewall(self, config: HardeningConfig) -> StepResult:
        status = self._ex.run(["ufw", "status"])
        active, allowed = hardening.parse_ufw_status(status.stdout)
        wanted = {f"{port}/tcp" for port in config.allowed_tcp_ports}
        extra = tuple(sorted(allowed - wanted))
        sync_dirs(self._ex, [DesiredDir("/etc/pm-mail-infra", 0o755)])
        marker = hardening.firewall_files(config)
        marker_stat = self._ex.file_stats([marker[0].path])[marker[0].path]
        if active and allowed == wanted and marker_stat is not None and marker_stat.sha256 == marker[0].sha256:
            return StepResult("firewall", False)
        self._ex.run(" && ".join(quote_all(command) for command in hardening.ufw_apply_commands(config, extra)))
        sync_files(self._ex, marker)
        return StepResult("firewall", True, "allowed " + " ".join(sorted(wanted, key=lambda r: int(r.split("/")[0]))))

    def _files_and_service(self, step: str, files: list[DesiredFile], unit: str, *, restart: bool) -> StepResult:
        sync_dirs(self._ex, [DesiredDir(d, 0o755) for d in sorted({f.path.rsplit("/", 1)[0] for f in files})])
        result, changes = self._files(step, files)
        service = self._service(step, unit, restart=restart and bool(changes))
        changed = result.changed or service.changed
        detail = "; ".join(part for part in (result.detail, service.detail) if part)
        return StepResult(step, changed, detail)

    def _sshd(self) -> StepResult:
        files = hardening.sshd_files()
        path = files[0].path
        sync_dirs(self._ex, [DesiredDir("/etc/ssh/sshd_config.d", 0o755)])
        previous = self._ex.read_file_if_exists(path)
        result, changes = self._files("sshd", files)
        if not any(c.content_changed for c in changes):
            return result
        check = self._ex.run(["sshd", "-t"], check=False)
        if not check.ok:
            if previous is None:
                self._ex.run(["rm", "-f", "--", path])
            else:
                self._ex.put_file(path, previous, mode=0o644)
            raise MailuInstallError("sshd", f"sshd -t rejected the drop-in, previous state restored: {check.stderr}")
        self._ex.run(["systemctl", "reload", "ssh"])
        return StepResult("sshd", True, result.detail + "; reloaded ssh")

    def _tenant_user(self, config: HardeningConfig) -> StepResult:
        user = config.tenant_user
        exists = self._ex.run(["id", "-u", user], check=False).ok
        details: list[str] = []
        if not exists:
            self._ex.run(["useradd", "--create-home", "--shell", "/bin/bash", "--user-group", user])
            details.append(f"created {user}")
        # useradd leaves the account locked ("!" password); sshd without PAM refuses locked accounts even with a
        # valid key. "*" keeps password login impossible while allowing key login.
        shadow = self._ex.run(["getent", "shadow", user], check=False)
        if shadow.ok and shadow.stdout.split(":")[1:2] and shadow.stdout.split(":")[1].startswith("!"):
            self._ex.run(["usermod", "--password", "*", user])
            details.append(f"unlocked {user} for key-only login")
        # The home is the tenant's: its directories and authorized_keys are written AS the tenant (root only makes
        # sure /home/<user> is a real directory of the user), so a link planted there reaches nothing of root's.
        keys = TenantFiles(self._ex, user).write(AUTHORIZED_KEYS, hardening.tenant_authorized_keys(config).content)
        details += keys.changes
        return StepResult("tenant-user", bool(details), "; ".join(details))
