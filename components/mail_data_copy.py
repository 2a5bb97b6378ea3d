"""``MailDataCopy``: during a migration off a trusted host (failure/upgrade), copy /mailu/mail and /mailu/data from
the old VPS to the new one (a dynamic resource over ``fleet.mail_copy``).

The tenant stack creates it only while its config holds ``migration: {copy_from: <old ip>}`` (set and removed by
`invoke dr.migrate`); it depends on the new host's MailuInstall, and the old VPS is deleted only at the end of the
same ``up``, so the old host still exists while the copy runs.

Inputs: ``source_host``, ``dest_host``, ``admin_key_path`` (logical Vault path of the admin SSH key: the key is read
at run time, never an input or in state), optional ``port``, ``paths``, ``connect_timeout``.
Outputs: ``copied`` (bool), ``bytes_copied``, ``copied_paths``, ``warning``. Mail data is best effort (RPO 0 is for
secrets): an old host that does not answer, or a stream that breaks, gives ``copied=false`` and a warning instead
of failing the deployment.
Diff: another source or destination -> replace (copy again); nothing else re-runs it. Delete does nothing.
An unknown input (preview: the new host's IP) counts as changed (``components.unknowns``). Refresh keeps the state:
the copy is a one-off event, and there is nothing on either host to read it back from.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi.dynamic

from components.unknowns import changed_keys, diff_result
from fleet.mail_copy import DEFAULT_PATHS, CopyResult, copy_mail_data
from toolkit.errors import ToolkitError
from toolkit.redact import scrub
from toolkit.ssh import KnownHosts, SshExecutor
from vault import keys
from vault.client import VaultClient
from vault.mailu_secrets import parse_path

INPUT_KEYS: tuple[str, ...] = ("source_host", "dest_host", "admin_key_path", "port", "paths", "connect_timeout")
REPLACE_KEYS: tuple[str, ...] = ("source_host", "dest_host", "port", "paths")
DEFAULT_CONNECT_TIMEOUT = 20.0


def _copy(props: dict[str, Any]) -> CopyResult:
    source_host, dest_host = str(props["source_host"]), str(props["dest_host"])
    if source_host == dest_host:
        return CopyResult(False, warning=f"source and destination are the same host ({source_host}); nothing copied")
    with VaultClient.from_env() as vault:
        key = keys.read_private(vault, parse_path(str(props["admin_key_path"]), "admin_key_path"))
    port = int(props.get("port") or 22)
    wait = float(props.get("connect_timeout") or DEFAULT_CONNECT_TIMEOUT)
    # Both hosts are ours: the new one was created a moment ago over the authenticated API, the old one is trusted
    # (a compromised host is never a copy source). Keys are accepted on first use; nothing secret is sent.
    source = SshExecutor(source_host, key, port=port, known_hosts=KnownHosts(trust_on_first_use=True),
                         connect_timeout=min(5.0, wait), boot_timeout=wait)
    dest = SshExecutor(dest_host, key, port=port, known_hosts=KnownHosts(trust_on_first_use=True),
                       boot_timeout=max(wait, 120.0))
    try:
        with source, dest:
            return copy_mail_data(source, dest, tuple(props.get("paths") or DEFAULT_PATHS))
    except ToolkitError as exc:
        return CopyResult(False, warning=f"mail data not copied from {source_host}: {scrub(str(exc))}")


def _outs(props: dict[str, Any], result: CopyResult) -> dict[str, Any]:
    return {**{k: props.get(k) for k in INPUT_KEYS}, "copied": result.copied, "bytes_copied": result.bytes_copied,
            "copied_paths": list(result.paths), "warning": result.warning}


class _MailDataCopyProvider(pulumi.dynamic.ResourceProvider):
    serialize_as_secret_always = False  # captures no secret

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        return pulumi.dynamic.CreateResult(f"{props['source_host']}->{props['dest_host']}",
                                           _outs(props, _copy(props)))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        return diff_result(changed_keys(olds, news, REPLACE_KEYS),
                           changed_keys(olds, news, ("admin_key_path", "connect_timeout")), delete_before_replace=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        kept = {k: olds.get(k) for k in ("copied", "bytes_copied", "copied_paths", "warning")}
        return pulumi.dynamic.UpdateResult({**{k: news.get(k) for k in INPUT_KEYS}, **kept})

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return None  # the copied data belongs to the new host now


class MailDataCopy(pulumi.dynamic.Resource, module="mailu", name="MailDataCopy"):
    """Mail data copied old -> new host during a migration. See the module docstring."""

    copied: pulumi.Output[bool]
    bytes_copied: pulumi.Output[int]
    copied_paths: pulumi.Output[list[str]]
    warning: pulumi.Output[str]

    def __init__(
        self, name: str, *, source_host: pulumi.Input[str], dest_host: pulumi.Input[str],
        admin_key_path: pulumi.Input[str], port: pulumi.Input[int] = 22,
        paths: pulumi.Input[list[str]] | None = None, connect_timeout: float | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "source_host": source_host, "dest_host": dest_host, "admin_key_path": admin_key_path, "port": port,
            "paths": paths or list(DEFAULT_PATHS), "connect_timeout": connect_timeout,
            "copied": None, "bytes_copied": None, "copied_paths": None, "warning": None,
        }
        super().__init__(_MailDataCopyProvider(), name, props, opts)
