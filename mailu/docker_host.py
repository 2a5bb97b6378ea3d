"""The Docker side of a tenant VPS: facts, Docker from Docker's apt repository, the daemon config, and the on-host
proof that nothing is published in a way that makes Mailu an open relay.

Open relay (Mailu's compose setup step, its FAQ, issue 3680): with Docker's userland proxy on, a connection to a
published port can reach the container from the Docker gateway address, which is inside Mailu's trusted ``SUBNET``,
so Postfix relays for anyone. Two measures, both verified on the host after every ``up`` (``verify_exposure``):
- ``/etc/docker/daemon.json`` holds ``"userland-proxy": false`` (and no ``docker-proxy`` process runs: the proxy
  is what would spawn them);
- every published port is bound to the VPS's public address, as ``docker compose ps`` reports it, and nothing is
  published on a wildcard address.

Facts are read in one SSH command (``read_facts``); each step acts only on what differs.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hostops.files import DesiredFile
from mailu import docker_apt
from mailu.errors import MailuInstallError
from mailu.ports import PUBLISHED_PORTS
from toolkit.ssh import RemoteExecutor, quote_all

DAEMON_JSON = "/etc/docker/daemon.json"
APT_ENV = "DEBIAN_FRONTEND=noninteractive"
COMMON_PACKAGES: tuple[str, ...] = ("ufw", "fail2ban", "python3-systemd", "unattended-upgrades")
PREREQUISITES: tuple[str, ...] = ("ca-certificates",)
"""Needed before Docker's https source can be read."""
FACT_PACKAGES: tuple[str, ...] = (*docker_apt.DOCKER_PACKAGES, *docker_apt.CONFLICTING_PACKAGES, *COMMON_PACKAGES,
                                  *PREREQUISITES)


def daemon_config() -> bytes:
    return (json.dumps({"userland-proxy": False}, indent=2) + "\n").encode()


def daemon_file() -> DesiredFile:
    return DesiredFile(DAEMON_JSON, daemon_config(), 0o644)


def apt_files(release: docker_apt.Release, architecture: str) -> list[DesiredFile]:
    return [DesiredFile(docker_apt.KEYRING_PATH, docker_apt.docker_key(), 0o644),
            DesiredFile(docker_apt.SOURCE_PATH, release.apt_source(architecture).encode(), 0o644)]


@dataclass(frozen=True)
class Package:
    version: str
    status: str  # dpkg's db:Status-Abbrev, e.g. "ii " installed, "hi " installed and held

    @property
    def installed(self) -> bool:
        return len(self.status) > 1 and self.status[1] in "iUFWt"

    @property
    def held(self) -> bool:
        return self.status.startswith("h")


@dataclass(frozen=True)
class HostFacts:
    os_id: str
    version_id: str
    codename: str
    architecture: str
    route: str
    """``ip -4 route get <bind address>``: starts with ``local`` when the address is this host's."""
    packages: Mapping[str, Package] = field(default_factory=dict)

    def installed(self, name: str) -> bool:
        package = self.packages.get(name)
        return package is not None and package.installed

    def release(self) -> docker_apt.Release:
        found = docker_apt.release(self.os_id, self.version_id)
        if found is None:
            raise MailuInstallError(
                "host", f"the host runs {self.os_id} {self.version_id or '(no VERSION_ID)'}: the installer supports "
                f"{docker_apt.SUPPORTED_LABELS} (Docker from Docker's apt repository); nothing was changed")
        return found


def facts_command(bind_address: str) -> str:
    packages = " ".join(FACT_PACKAGES)
    return (
        "(. /etc/os-release 2>/dev/null; echo \"os ${ID:-unknown} ${VERSION_ID:-} ${VERSION_CODENAME:-}\"); "
        "echo \"arch $(dpkg --print-architecture 2>/dev/null || echo unknown)\"; "
        f"echo \"route $(ip -4 -o route get {quote_all([bind_address])} 2>&1 | head -n 1)\"; "
        f"dpkg-query -W -f='pkg ${{Package}} ${{Version}} ${{db:Status-Abbrev}}\\n' {packages} 2>/dev/null; true"
    )


def parse_facts(text: str) -> HostFacts:
    os_id, version_id, codename, arch, route = "unknown", "", "", "unknown", ""
    packages: dict[str, Package] = {}
    for line in text.splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "os":
            parts = [*rest.split(), "", "", ""][:3]
            os_id, version_id, codename = parts[0] or "unknown", parts[1], parts[2]
        elif kind == "arch":
            arch = rest.strip()
        elif kind == "route":
            route = rest.strip()
        elif kind == "pkg":
            name, _, remainder = rest.partition(" ")
            version, _, status = remainder.partition(" ")
            packages[name] = Package(version, status.ljust(3))
    return HostFacts(os_id, version_id, codename, arch, route, packages)


def read_facts(executor: RemoteExecutor, bind_address: str) -> HostFacts:
    return parse_facts(executor.run(facts_command(bind_address), check=False).stdout)


def check_bind_address(facts: HostFacts, bind_address: str) -> None:
    """Docker can publish on the address only if the kernel has it as a local address."""
    if not facts.route.startswith("local "):
        raise MailuInstallError(
            "host", f"{bind_address} is not an address of this host (ip route get: {facts.route or 'no answer'}): "
            "the ports are published on the VPS's public address; nothing was changed")


@dataclass(frozen=True)
class PackagePlan:
    remove: tuple[str, ...]
    prerequisites: tuple[str, ...]
    install: tuple[str, ...]
    """``name`` or ``name=version`` arguments of ``apt-get install``."""
    hold: tuple[str, ...]

    @property
    def empty(self) -> bool:
        return not (self.remove or self.prerequisites or self.install or self.hold)


def package_plan(facts: HostFacts, release: docker_apt.Release) -> PackagePlan:
    """What apt must do so the pinned Docker packages and the common tools are installed, nothing conflicting is."""
    pinned = release.pinned_versions()
    docker = tuple(
        f"{name}={version}" for name, version in pinned.items()
        if not facts.installed(name) or facts.packages[name].version != version
    )
    common = tuple(name for name in COMMON_PACKAGES if not facts.installed(name))
    hold = tuple(name for name in pinned if docker or not facts.packages[name].held)
    return PackagePlan(
        remove=tuple(name for name in docker_apt.CONFLICTING_PACKAGES if facts.installed(name)),
        prerequisites=tuple(name for name in PREREQUISITES if not facts.installed(name)),
        install=(*common, *docker), hold=hold,
    )


def plan_commands(plan: PackagePlan, *, sources_changed: bool) -> list[str]:
    """The apt commands for ``plan``; ``apt-get update`` only when something is installed or the sources changed."""
    commands: list[str] = []
    if plan.remove:
        commands.append(f"{APT_ENV} apt-get remove -y -q " + quote_all(plan.remove))
    if plan.prerequisites:
        commands.append(f"{APT_ENV} apt-get install -y -q " + quote_all(plan.prerequisites))
    if plan.install or sources_changed:
        commands.append(f"{APT_ENV} apt-get update -q")
    if plan.install:
        commands.append(f"{APT_ENV} apt-get install -y -q --allow-change-held-packages " + quote_all(plan.install))
    if plan.hold:
        commands.append(quote_all(["apt-mark", "hold", *plan.hold]))
    return commands


# --- exposure: verified on the host ----------------------------------------------------------------------

@dataclass(frozen=True)
class Publisher:
    service: str
    url: str
    published: int
    target: int
    protocol: str


def parse_publishers(text: str) -> list[Publisher]:
    """Published ports from ``docker compose ps --format json`` (JSON lines or one array); unpublished ones left out."""
    text = text.strip()
    if not text:
        return []
    items: list[Any] = json.loads(text) if text.startswith("[") else [
        json.loads(line) for line in text.splitlines() if line.strip()]
    found: list[Publisher] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        for entry in item.get("Publishers") or []:
            if isinstance(entry, dict) and int(entry.get("PublishedPort") or 0):
                found.append(Publisher(str(item.get("Service", "")), str(entry.get("URL", "")),
                                       int(entry["PublishedPort"]), int(entry.get("TargetPort") or 0),
                                       str(entry.get("Protocol", "tcp"))))
    return found


def exposure_problems(publishers: Iterable[Publisher], daemon_json: bytes | None, proxies: str,
                      bind_address: str) -> list[str]:
    """Everything that would let a connection bypass the public-address binding or appear to come from inside."""
    problems: list[str] = []
    try:
        config = json.loads(daemon_json or b"{}")
    except ValueError:
        config = {}
    if not isinstance(config, dict) or config.get("userland-proxy") is not False:
        problems.append(f"{DAEMON_JSON} does not set \"userland-proxy\": false")
    pids = proxies.split()
    if pids:
        problems.append(f"docker-proxy runs (pid {', '.join(pids)}): the daemon still uses the userland proxy "
                        "(restart docker; remove any --userland-proxy flag from its unit)")
    front: set[int] = set()
    for pub in publishers:
        address = ipaddress.ip_address(pub.url) if pub.url else None
        if address is None or address.is_unspecified:
            problems.append(f"{pub.service} publishes {pub.published}/{pub.protocol} on every address "
                            f"({pub.url or 'no address'})")
        elif str(address) != bind_address and not address.is_loopback:
            problems.append(f"{pub.service} publishes {pub.published}/{pub.protocol} on {pub.url}, "
                            f"not on {bind_address}")
        elif pub.service == "front" and str(address) == bind_address:
            front.add(pub.published)
    missing = sorted(set(PUBLISHED_PORTS) - front)
    if missing:
        problems.append(f"front does not publish {', '.join(map(str, missing))} on {bind_address}")
    return problems


def verify_exposure(executor: RemoteExecutor, compose: Iterable[str], bind_address: str) -> str:
    """Check the daemon config, the absence of docker-proxy and every published port on the host; raise
    ``MailuInstallError`` naming each problem. Returns what was checked."""
    daemon_json = executor.read_file_if_exists(DAEMON_JSON)
    proxies = executor.run("pgrep -x docker-proxy || true").stdout
    ps = executor.run(quote_all([*compose, "ps", "--all", "--format", "json"])).stdout
    try:
        publishers = parse_publishers(ps)
    except ValueError as exc:
        raise MailuInstallError("docker-exposure", f"cannot parse `docker compose ps` output: {exc}") from None
    problems = exposure_problems(publishers, daemon_json, proxies, bind_address)
    if problems:
        raise MailuInstallError("docker-exposure", "; ".join(problems))
    ports = ",".join(str(p) for p in sorted({p.published for p in publishers if p.service == "front"}))
    return f"userland proxy off, no docker-proxy; front publishes {ports} on {bind_address} only"
