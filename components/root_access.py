"""``RootAccess``: root's ``authorized_keys`` on the tenant's VPS as a resource, so admin-key rotation, its grace
window and revocation are carried out by the engine.

Inputs: the host, the admin key's Vault path and current version, earlier versions that may still open root (the
intent's ``connect_versions``: after a rotation only the previous key is authorized until this resource has run),
and ``authorized``: the exact public keys root accepts (the current admin key, plus keys in an open grace window).
create/update log in with the first key that works, write the exact set, then prove a login with the current key.
read logs in and reports the keys the host actually holds, so a key added or removed beside the engine is drift.
The private keys are read from Vault at run time; state holds only public facts.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi.dynamic

from components.unknowns import changed_keys, diff_result
from components.vault_keys import _client
from toolkit.authorized_keys import converge_root_keys, read_root_keys, same_keys
from toolkit.errors import ToolkitError
from toolkit.redact import Secret
from toolkit.ssh import KnownHosts, SshAuthError, SshError, SshExecutor
from vault import keys as vkeys
from vault import paths
from vault.errors import SecretNotFound

INPUTS = ("host", "port", "admin_path", "admin_version", "connect_versions", "authorized")


class RootAccessError(ToolkitError):
    """No admin key opens root, or the current key does not log in after the change."""


def _candidates(props: dict[str, Any]) -> list[tuple[int, Secret]]:
    mount, _, rest = str(props["admin_path"]).partition("/")
    path = paths.SecretPath(mount, rest)
    found: list[tuple[int, Secret]] = []
    with _client() as client:
        for version in [int(props["admin_version"]), *(int(v) for v in props.get("connect_versions") or ())]:
            try:
                found.append((version, vkeys.read_private(client, path, version)))
            except (SecretNotFound, KeyError):
                continue  # destroyed, or a revoked version without its private half
    return found


def _executor(props: dict[str, Any], key: Secret) -> SshExecutor:
    return SshExecutor(str(props["host"]), key, port=int(props.get("port") or 22),
                       known_hosts=KnownHosts(lines=[], trust_on_first_use=True))


def _login(props: dict[str, Any]) -> tuple[SshExecutor, int]:
    refused: list[str] = []
    for version, key in _candidates(props):
        executor = _executor(props, key)
        try:
            executor.connect()
        except SshAuthError as exc:
            refused.append(f"v{version}: {exc}")
            continue
        return executor, version
    raise RootAccessError(f"root@{props['host']}: no admin key version opens root ({'; '.join(refused) or 'none'})")


def _apply(props: dict[str, Any]) -> dict[str, Any]:
    executor, used = _login(props)
    with executor:
        changed = converge_root_keys(executor, list(props["authorized"]))
    current = _candidates({**props, "connect_versions": []})
    if not current:
        raise RootAccessError(f"{props['admin_path']} v{props['admin_version']} holds no private key")
    try:
        with _executor(props, current[0][1]) as proof:
            proof.run("true")
    except SshAuthError as exc:
        raise RootAccessError(f"root@{props['host']} refuses the current admin key after the change: {exc}") from exc
    return {**props, "changed": changed, "logged_in_with": used}


class RootAccessProvider(pulumi.dynamic.ResourceProvider):
    serialize_as_secret_always = False

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        return pulumi.dynamic.CreateResult(f"root@{props['host']}", _apply(props))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        return diff_result(changed_keys(olds, news, ("host", "port")),
                           changed_keys(olds, news, ("admin_path", "admin_version", "authorized")),
                           delete_before_replace=False)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        return pulumi.dynamic.UpdateResult(_apply(news))

    def read(self, id_: str, props: dict[str, Any]) -> pulumi.dynamic.ReadResult:
        try:
            executor, _ = _login(props)
            with executor:
                live = read_root_keys(executor)
        except (RootAccessError, SshError) as exc:
            pulumi.log.warn(f"{id_}: cannot read root's authorized_keys ({exc}); keeping the recorded state")
            return pulumi.dynamic.ReadResult(id_, props, {k: props.get(k) for k in INPUTS})
        authorized = list(props.get("authorized") or [])
        if not same_keys(live, authorized):
            authorized = [line.strip() for line in live.splitlines() if line.strip() and not line.startswith("#")]
        state = {**props, "authorized": authorized}
        return pulumi.dynamic.ReadResult(id_, state, {k: state.get(k) for k in INPUTS})

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return None  # the VPS resource owns the machine's life


class RootAccess(pulumi.dynamic.Resource, module="vps", name="RootAccess"):
    """Root's authorized_keys on one VPS (see the module docstring)."""

    authorized: pulumi.Output[list[str]]

    def __init__(self, name: str, *, host: pulumi.Input[str], admin_path: pulumi.Input[str],
                 admin_version: pulumi.Input[int], authorized: pulumi.Input[list[str]],
                 connect_versions: list[int], port: int = 22, opts: pulumi.ResourceOptions | None = None) -> None:
        props: dict[str, Any] = {"host": host, "port": port, "admin_path": admin_path, "admin_version": admin_version,
                                 "connect_versions": connect_versions, "authorized": authorized,
                                 "changed": None, "logged_in_with": None}
        super().__init__(RootAccessProvider(), name, props, opts)
