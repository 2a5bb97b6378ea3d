"""The idempotent Mailu installer: a fixed plan of steps executed over SSH, each changing only what differs.

Steps, in order: host, docker-daemon, packages, docker-service, mailu-tree, compose-file, env-file, front-overrides,
dkim-key, mailu-up, mailu-health, docker-exposure, admin-account, firewall, fail2ban, sshd, tenant-user,
unattended-upgrades, probes. Each compares desired with actual state (file SHA-256, mode, owner; service state;
installed package versions) and reports ``changed`` only if it acted, so a second run on a healthy host reports
zero changes.

- ``host`` reads the facts once and refuses, before changing anything, a release the installer does not support or
  a publish address the host does not have; ``docker-daemon``, ``packages`` and ``docker-exposure`` are
  ``mailu.docker_host`` (Docker from Docker's apt repository, userland proxy off, verified on the host).
- ``probes`` talks to the services from the operator's side (``mailu.probe``) and reports what answered; it never
  fails the install (a fresh host may still be waiting for its certificate), the report says so.

Restarts: first install -> ``docker compose up -d``. Later, only the services affected by what changed are
recreated (``up -d --no-deps <services>``, see ``mailu.restart``); a new DKIM key restarts ``antispam``; a changed
front override recreates ``front``.

Admin account (decision): set through ``flask mailu config-import --update -`` inside the admin container, with the
YAML (holding the password) on stdin of ``docker compose exec -T``: the password is on no command line (host or
container) and in no file (``mailu.admin_account``). ``INITIAL_ADMIN_PW`` in mailu.env was rejected: Mailu's admin
start script passes it to a shell command line inside the container, and it would sit in mailu.env forever.

Secrets (SECRET_KEY inside mailu.env, the DKIM key, the admin password) reach the host only through stdin of the
SSH channel; they are registered with the executor, which refuses any command line containing them.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from hostops.files import DesiredDir, DesiredFile, FileChange, files_digest, sync_dirs, sync_files
from hostops.firewall import ensure_ufw
from hostops.services import ensure_service
from hostops.sshd import SshdConfigRefused, apply_dropin
from hostops.users import ensure_key_login_user
from mailu import docker_host, hardening
from mailu.admin_account import (
    ADMIN_MARKER,
    admin_import_yaml,
    admin_marker,
    admin_marker_matches,
    marker_account,
)
from mailu.config import COMPOSE_PROJECT, INSTALL_ROOT, MailuConfig
from mailu.errors import MailuHealthError, MailuInstallError
from mailu.hardening import HardeningConfig
from mailu.overrides import FRONT_RESTART_PATHS, front_override_files, stale_override_paths
from mailu.probe import ProbeReport, probe_mailu
from mailu.render import COMPOSE_PATH, ENV_PATH, parse_env, render
from mailu.restart import DKIM_KEY_SERVICES, compose_services, env_services, services_with_env_file
from toolkit.errors import ToolkitError, ValidationError
from toolkit.redact import Secret
from toolkit.ssh import RemoteExecutor, quote_all
from toolkit.wait import WaitTimeout, wait_for

COMPOSE: tuple[str, ...] = ("docker", "compose", "--project-name", COMPOSE_PROJECT, "--file", COMPOSE_PATH)
__all__ = ["ADMIN_MARKER", "InstallReport", "InstallRequest", "MailuInstaller", "StepResult", "admin_import_yaml",
           "admin_marker", "admin_marker_matches", "mailu_dirs", "parse_compose_ps"]


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
    probes: ProbeReport | None = None

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
    front_changed: bool = False
    facts: docker_host.HostFacts | None = None
    probes: ProbeReport | None = None
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
        probe: bool = True,
        probe_tls: ssl.SSLContext | None = None,
        probe_timeout: float = 5.0,
    ) -> None:
        self._ex = executor
        self._health_timeout = health_timeout
        self._health_interval = health_interval
        self._sleep = sleep
        self._clock = clock
        self._probe = probe
        self._probe_tls = probe_tls
        self._probe_timeout = probe_timeout

    def install(self, request: InstallRequest) -> InstallReport:
        self._ex.register_secret(request.secret_key, request.dkim_private_key, request.admin_password)
        config = self._bound(request.config)
        rendered = render(config, request.secret_key)
        state = _RunState()
        compose_file = DesiredFile(COMPOSE_PATH, rendered.compose, 0o644)
        env_file = DesiredFile(ENV_PATH, rendered.env, 0o600, secret=True)
        dkim_pem = request.dkim_private_key.reveal().encode()
        if b"PRIVATE KEY-----" not in dkim_pem:
            raise MailuInstallError("dkim-key", "the DKIM private key is not PEM text")
        overrides = front_override_files(config)
        steps: list[tuple[str, Callable[[], StepResult]]] = [
            ("host", lambda: self._host(config, state)),
            ("docker-daemon", lambda: self._docker_daemon(state)),
            ("packages", lambda: self._packages(state)),
            ("docker-service", lambda: self._service("docker-service", "docker", restart=False)),
            ("mailu-tree", lambda: self._dirs("mailu-tree", mailu_dirs(config))),
            ("compose-file", lambda: self._compose_file(compose_file, state)),
            ("env-file", lambda: self._env_file(env_file, state)),
            ("front-overrides", lambda: self._front_overrides(config, overrides, state)),
            ("dkim-key", lambda: self._dkim_key(config, dkim_pem, state)),
            ("mailu-up", lambda: self._up(config, rendered.compose, rendered.env, state)),
            ("mailu-health", lambda: self._health(config)),
            ("docker-exposure", lambda: StepResult("docker-exposure", False, docker_host.verify_exposure(
                self._ex, COMPOSE, config.bind_address))),
            ("admin-account", lambda: self._admin(config, request.admin_password)),
            ("firewall", lambda: self._firewall(request.hardening)),
            ("fail2ban", lambda: self._files_and_service(
                "fail2ban", hardening.fail2ban_files(request.hardening), "fail2ban", restart=True)),
            ("sshd", self._sshd),
            ("tenant-user", lambda: self._tenant_user(request.hardening)),
            ("unattended-upgrades", lambda: self._files_and_service(
                "unattended-upgrades", hardening.auto_upgrade_files(), "unattended-upgrades", restart=False)),
            ("probes", lambda: self._probes(config, state)),
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
                   *overrides, docker_host.daemon_file(), *self._apt_files(state),
                   *hardening.fail2ban_files(request.hardening), *hardening.sshd_files(),
                   *hardening.auto_upgrade_files(), *hardening.firewall_files(request.hardening),
                   hardening.tenant_authorized_keys(request.hardening)]
        return InstallReport(host=self._ex.host, steps=tuple(results), restarted=tuple(state.restarted),
                             files_digest=files_digest(managed), probes=state.probes)

    def _bound(self, config: MailuConfig) -> MailuConfig:
        """The config with its publish address: the VPS's address the installer connects to, unless given."""
        if config.bind_address:
            return config
        try:
            return config.replaced(bind_address=self._ex.host)
        except ValidationError as exc:
            raise MailuInstallError("host", f"cannot publish on {self._ex.host!r}: {exc.problem}") from None

    @staticmethod
    def _apt_files(state: _RunState) -> list[DesiredFile]:
        facts = state.facts
        return [] if facts is None else docker_host.apt_files(facts.release(), facts.architecture)

    # --- steps ---------------------------------------------------------------------------------------------

    def _host(self, config: MailuConfig, state: _RunState) -> StepResult:
        facts = docker_host.read_facts(self._ex, config.bind_address)
        release = facts.release()
        docker_host.check_bind_address(facts, config.bind_address)
        state.facts = facts
        return StepResult("host", False, f"{release.label} ({release.codename}, {facts.architecture}); "
                                         f"publishing on {config.bind_address}")

    def _docker_daemon(self, state: _RunState) -> StepResult:
        sync_dirs(self._ex, [DesiredDir("/etc/docker", 0o755)])
        result, changes = self._files("docker-daemon", [docker_host.daemon_file()])
        if changes and state.facts is not None and state.facts.installed("docker-ce"):
            self._ex.run(quote_all(["systemctl", "restart", "docker"]))
            return StepResult("docker-daemon", True, result.detail + "; restarted docker (userland proxy off)")
        return result

    def _packages(self, state: _RunState) -> StepResult:
        facts = state.facts
        if facts is None:
            raise MailuInstallError("packages", "the host's facts were not read")
        release = facts.release()
        plan = docker_host.package_plan(facts, release)
        if plan.remove:  # Docker's guide: the distribution's packages go first (same files, older engine)
            self._ex.run(f"{docker_host.APT_ENV} apt-get remove -y -q " + quote_all(plan.remove))
        if plan.prerequisites:  # before Docker's https source can be read
            self._ex.run(f"{docker_host.APT_ENV} apt-get update -q")
            self._ex.run(f"{docker_host.APT_ENV} apt-get install -y -q " + quote_all(plan.prerequisites))
        sync_dirs(self._ex, [DesiredDir("/etc/apt/keyrings", 0o755)])
        sources = sync_files(self._ex, docker_host.apt_files(release, facts.architecture))
        commands = docker_host.plan_commands(dataclasses.replace(plan, remove=(), prerequisites=()),
                                             sources_changed=bool(sources))
        for command in commands:
            self._ex.run(command)
        if plan.empty and not sources:
            return StepResult("packages", False)
        done = [f"removed {' '.join(plan.remove)}"] if plan.remove else []
        done += [f"Docker's apt source for {release.codename}"] if sources else []
        done += [f"installed {' '.join(plan.prerequisites + plan.install)}"] if plan.prerequisites or plan.install \
            else []
        done += [f"held {' '.join(plan.hold)}"] if plan.hold else []
        return StepResult("packages", True, "; ".join(done))

    def _service(self, step: str, unit: str, *, restart: bool) -> StepResult:
        """Enable and start ``unit`` if needed; with ``restart``, restart it (after its config changed)."""
        change = ensure_service(self._ex, unit, restart=restart)
        return StepResult(step, change.changed, change.detail)

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

    def _front_overrides(self, config: MailuConfig, files: list[DesiredFile], state: _RunState) -> StepResult:
        result, changes = self._files("front-overrides", files)
        stale = [path for path, stat in self._ex.file_stats(stale_override_paths(config)).items() if stat is not None]
        if stale:
            self._ex.run(quote_all(["rm", "-f", "--", *stale]))
        state.front_changed = bool(stale) or any(c.path in FRONT_RESTART_PATHS and c.content_changed for c in changes)
        if not stale:
            return result
        removed = "removed " + " ".join(stale)
        return StepResult("front-overrides", True, "; ".join(filter(None, [result.detail, removed])))

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
        if state.front_changed:
            affected.add("front")
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

        def unhealthy(status: dict[str, tuple[str, str]]) -> list[str]:
            return sorted(name for name in expected if status.get(name, ("missing", ""))[0] != "running"
                          or status.get(name, ("", ""))[1] not in ("", "healthy"))

        def failure(timed_out: WaitTimeout) -> MailuHealthError:
            status: dict[str, tuple[str, str]] = timed_out.last or {}
            detail = ", ".join(f"{n}={'/'.join(status.get(n, ('missing', '')))}" for n in unhealthy(status))
            return MailuHealthError("mailu-health", f"not healthy after {self._health_timeout:.0f} s: {detail}")

        wait_for(self._running, lambda status: not unhealthy(status), what="the Mailu services to be healthy",
                 timeout=self._health_timeout, interval=self._health_interval, fail=failure, clock=self._clock,
                 sleep=self._sleep)
        return StepResult("mailu-health", False, "all services running and healthy")

    def _admin(self, config: MailuConfig, password: Secret) -> StepResult:
        account = marker_account(config)
        marker = self._ex.read_file_if_exists(ADMIN_MARKER)
        if marker is not None and admin_marker_matches(marker.decode(errors="replace"), account, password):
            return StepResult("admin-account", False)
        self._ex.run(
            quote_all([*COMPOSE, "exec", "-T", "admin", "flask", "mailu", "config-import", "--update", "--quiet", "-"]),
            stdin=admin_import_yaml(config, password),
        )
        sync_dirs(self._ex, [DesiredDir("/etc/pm-mail-infra", 0o755)])
        new_marker = admin_marker(account, password, secrets.token_bytes(16))
        self._ex.put_file(ADMIN_MARKER, new_marker.encode(), mode=0o600)
        alias = "" if config.postmaster == config.admin_localpart else f", alias {config.postmaster}@{config.domain}"
        return StepResult("admin-account", True, f"set {config.admin_email}{alias}")

    def _firewall(self, config: HardeningConfig) -> StepResult:
        change = ensure_ufw(self._ex, config.allowed_tcp_ports, hardening.firewall_files(config)[0])
        return StepResult("firewall", change.changed, change.detail)

    def _files_and_service(self, step: str, files: list[DesiredFile], unit: str, *, restart: bool) -> StepResult:
        sync_dirs(self._ex, [DesiredDir(d, 0o755) for d in sorted({f.path.rsplit("/", 1)[0] for f in files})])
        result, changes = self._files(step, files)
        service = self._service(step, unit, restart=restart and bool(changes))
        changed = result.changed or service.changed
        detail = "; ".join(part for part in (result.detail, service.detail) if part)
        return StepResult(step, changed, detail)

    def _sshd(self) -> StepResult:
        try:
            change = apply_dropin(self._ex, hardening.sshd_files())
        except SshdConfigRefused as exc:
            raise MailuInstallError("sshd", str(exc)) from None
        return StepResult("sshd", change.changed, change.detail)

    def _tenant_user(self, config: HardeningConfig) -> StepResult:
        change = ensure_key_login_user(self._ex, config.tenant_user, hardening.tenant_authorized_keys(config).content)
        return StepResult("tenant-user", change.changed, change.detail)

    def _probes(self, config: MailuConfig, state: _RunState) -> StepResult:
        if not self._probe:
            return StepResult("probes", False, "skipped")
        report = probe_mailu(config.bind_address, mail_host=config.hostnames[0], mta_sts_host=config.mta_sts_host,
                             admin_path="/admin" if config.admin_ui else None, tls=self._probe_tls,
                             timeout=self._probe_timeout)
        state.probes = report
        return StepResult("probes", False, report.summary())
