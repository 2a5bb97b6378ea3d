"""Pulumi wrapper of the Mailu installer: the dynamic resource ``MailuInstall``.

A thin layer over ``mailu.installer``. Inputs are public: host address and SSH port, pinned host keys, the
(non-secret) Mailu config with its digest, the tenant's public keys, the Vault paths/versions of the secrets and the
dotted name of a secrets loader (``"package.module:function"``, called with ``SecretRefs`` at run time, returning
``mailu.secrets.MailuSecrets``). The provider fetches the secrets itself when it runs, so state holds no secret.
Outputs: ``files_digest`` (digest of the managed files on the host, as last seen: by the install or by a refresh),
``installed_digest`` (what the last install left), the steps that changed on the last run, the services restarted,
``probes`` (what answered from the operator's side after the install, ``mailu.probe``; a failed probe is also
written to stderr, which the engine shows with the resource). Never secrets.

Diff: a new host address or SSH port -> replace (a different machine); any other input change (config digest,
secret versions, keys) -> update, which re-runs the idempotent installer; so does drift (``files_digest`` differs
from ``installed_digest`` after a refresh). At preview an unknown input counts as changed (an unknown host -> replace;
``components.unknowns``). Delete does nothing on the host: the VPS resource owns the machine's life, and deleting
Mailu's data on a host that stays would be destructive.

Refresh (``read``, ``components.mailu_live``): reads the managed files' digest from the host over SSH (pinned to the
host keys recorded at install; the admin key comes from the secrets loader at run time) and reports it as
``files_digest``, so an edited, re-moded or deleted file shows as drift and the next ``up`` re-runs the installer.
The inputs (config, Vault refs) cannot be read back from the host and stay as recorded. A host or Vault that cannot
be reached keeps the recorded state and says so on stderr instead of failing the refresh (a VPS being rebooted or
replaced is normal during day-2 work); a host presenting another host key fails the refresh.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi.dynamic

from components.engine_numbers import whole_numbers
from components.mailu_live import read_install, warn
from components.unknowns import changed_keys, diff_result
from mailu.config import MailuConfig
from mailu.hardening import HardeningConfig
from mailu.installer import InstallRequest, MailuInstaller
from mailu.secrets import SecretRefs, resolve_loader
from toolkit.errors import ConfigError
from toolkit.ssh import KnownHosts, SshExecutor

INPUT_KEYS: tuple[str, ...] = (
    "host", "port", "known_hosts", "trust_on_first_use", "tenant_id", "tenant_public_keys", "mailu_config",
    "config_digest", "secret_refs", "secrets_loader", "health_timeout",
)
REPLACE_KEYS: tuple[str, ...] = ("host", "port")
OUTPUT_KEYS: tuple[str, ...] = ("files_digest", "installed_digest", "steps_changed", "restarted", "host_keys",
                                 "probes")


def _install(props: dict[str, Any]) -> dict[str, Any]:
    config = MailuConfig.from_dict(whole_numbers(props["mailu_config"]))
    if config.digest() != props["config_digest"]:
        raise ConfigError("config_digest", "does not match mailu_config (render the digest from the same config)")
    hardening_config = HardeningConfig(
        tenant_id=str(props["tenant_id"]), tenant_public_keys=tuple(props.get("tenant_public_keys") or ()),
    )
    refs = SecretRefs.from_dict(whole_numbers(props["secret_refs"]))
    secrets = resolve_loader(str(props["secrets_loader"]))(refs)
    known = KnownHosts(lines=list(props.get("known_hosts") or []),
                       trust_on_first_use=bool(props.get("trust_on_first_use", False)))
    executor = SshExecutor(str(props["host"]), secrets.admin_ssh_private_key(), port=int(props.get("port", 22)),
                           known_hosts=known)
    with executor:
        report = MailuInstaller(executor, health_timeout=float(props.get("health_timeout", 600.0))).install(
            InstallRequest(
                config=config, hardening=hardening_config, secret_key=secrets.mailu_secret_key(),
                dkim_private_key=secrets.dkim_private_key(), admin_password=secrets.admin_password(),
            )
        )
    outs = {key: props[key] for key in INPUT_KEYS if key in props}
    outs.update({
        "files_digest": report.files_digest,
        "installed_digest": report.files_digest,
        "steps_changed": list(report.changed_steps),
        "restarted": list(report.restarted),
        "host_keys": [*known.lines, *known.recorded],
        "probes": [] if report.probes is None else [
            f"{r.name}: {'ok' if r.ok else 'FAILED'} {r.detail}" for r in report.probes.results],
    })
    if report.probes is not None and not report.probes.ok():
        warn(f"{props['host']}: after the install, not every service answered: "
             + "; ".join(f"{r.name}: {r.detail}" for r in report.probes.failures()))
    return outs


def drifted(olds: dict[str, Any]) -> bool:
    """A refresh found the managed files differ from what the last install left."""
    installed, live = olds.get("installed_digest"), olds.get("files_digest")
    return bool(installed and live and installed != live)


def diff_inputs(olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
    changed = changed_keys(olds, news, INPUT_KEYS)
    replaces = [key for key in changed if key in REPLACE_KEYS]
    updates = [key for key in changed if key not in REPLACE_KEYS] + (["files_digest"] if drifted(olds) else [])
    return diff_result(replaces, updates, delete_before_replace=False)


def read_live(id_: str, props: dict[str, Any]) -> pulumi.dynamic.ReadResult:
    inputs = {key: props[key] for key in INPUT_KEYS if key in props}
    installed = props.get("installed_digest") or props.get("files_digest")
    live = read_install(props)
    if live.digest is None:
        warn(f"{id_}: cannot read the host for refresh ({live.problem}); keeping the recorded state")
        return pulumi.dynamic.ReadResult(id_, {**props, "installed_digest": installed}, inputs)
    if installed and live.digest != installed:
        warn(f"{id_}: the files Mailu's installer manages differ on the host; the next `up` converges them")
    return pulumi.dynamic.ReadResult(id_, {**props, "files_digest": live.digest, "installed_digest": installed},
                                     inputs)


class MailuInstallProvider(pulumi.dynamic.ResourceProvider):
    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        outs = _install(props)
        return pulumi.dynamic.CreateResult(id_=f"{outs['mailu_config']['domain']}@{props['host']}", outs=outs)

    def diff(self, _id: str, _olds: dict[str, Any], _news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        return diff_inputs(_olds, _news)

    def read(self, id_: str, props: dict[str, Any]) -> pulumi.dynamic.ReadResult:
        return read_live(id_, props)

    def update(self, _id: str, _olds: dict[str, Any], _news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        return pulumi.dynamic.UpdateResult(outs=_install(_news))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return None


@dataclass
class MailuInstallArgs:
    host: pulumi.Input[str]
    tenant_id: str
    mailu_config: MailuConfig
    secret_refs: SecretRefs | pulumi.Input[dict[str, Any]]  # an Output dict when versions come from resources
    secrets_loader: str
    port: pulumi.Input[int] = 22
    known_hosts: pulumi.Input[list[str]] = field(default_factory=list)
    trust_on_first_use: bool = False
    tenant_public_keys: pulumi.Input[list[str]] = field(default_factory=list)
    health_timeout: float = 600.0

    def props(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "port": self.port,
            "known_hosts": self.known_hosts,
            "trust_on_first_use": self.trust_on_first_use,
            "tenant_id": self.tenant_id,
            "tenant_public_keys": self.tenant_public_keys,
            "mailu_config": self.mailu_config.as_dict(),
            "config_digest": self.mailu_config.digest(),
            "secret_refs": (
                self.secret_refs.as_dict() if isinstance(self.secret_refs, SecretRefs) else self.secret_refs
            ),
            "secrets_loader": self.secrets_loader,
            "health_timeout": self.health_timeout,
        }


class MailuInstall(pulumi.dynamic.Resource, module="mailu", name="MailuInstall"):
    """Mailu installed and converged on one VPS. Outputs: files_digest, installed_digest, steps_changed, restarted,
    host_keys, probes."""

    files_digest: pulumi.Output[str]
    installed_digest: pulumi.Output[str]
    steps_changed: pulumi.Output[list[str]]
    restarted: pulumi.Output[list[str]]
    host_keys: pulumi.Output[list[str]]
    probes: pulumi.Output[list[str]]

    def __init__(self, name: str, args: MailuInstallArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        props: dict[str, Any] = {**args.props(), **{key: None for key in OUTPUT_KEYS}}
        super().__init__(MailuInstallProvider(), name, props, opts)
