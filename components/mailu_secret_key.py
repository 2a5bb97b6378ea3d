"""Mailu's ``SECRET_KEY`` generated straight into Vault at ``smtp/<tenant>/mailu`` (a dynamic resource).

State holds only the path and version. ``rotation_trigger`` (e.g. set by `dr.migrate --reason compromise`)
writes a new version; deleting keeps the history unless ``purge`` is true.

Preview: an unknown input counts as changed (``components.unknowns``). Refresh (``read``) reports the version Vault
holds now (a rotation done beside the engine shows as drift); a key gone from Vault reads as deleted; Vault
unreachable fails the refresh (it is the source of truth).
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi.dynamic

from components.unknowns import changed_keys, diff_result
from vault import kv
from vault.client import VaultClient
from vault.errors import SecretNotFound
from vault.mailu_secrets import mailu_secret_key_path, store_mailu_secret_key


class _MailuSecretKeyProvider(pulumi.dynamic.ResourceProvider):
    serialize_as_secret_always = False

    def _store(self, props: dict[str, Any]) -> dict[str, Any]:
        with VaultClient.from_env() as client:
            path, version = store_mailu_secret_key(client, str(props["tenant_id"]),
                                                   trigger=str(props.get("rotation_trigger") or ""))
        return {**props, "path": path, "version": version}

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        outs = self._store(props)
        return pulumi.dynamic.CreateResult(outs["path"], outs)

    def read(self, id_: str, props: dict[str, Any]) -> pulumi.dynamic.ReadResult:
        with VaultClient.from_env() as client:
            try:
                version = kv.read(client, mailu_secret_key_path(str(props["tenant_id"]))).version
            except SecretNotFound:
                return pulumi.dynamic.ReadResult(None, {})
        return pulumi.dynamic.ReadResult(id_, {**props, "version": version},
                                         {k: props.get(k) for k in ("tenant_id", "rotation_trigger", "purge")})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        return diff_result(changed_keys(olds, news, ("tenant_id",)),
                           changed_keys(olds, news, ("rotation_trigger", "purge")))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        if olds.get("rotation_trigger") != news.get("rotation_trigger"):
            return pulumi.dynamic.UpdateResult(self._store(news))
        return pulumi.dynamic.UpdateResult({**news, "path": olds.get("path"), "version": olds.get("version")})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        if props.get("purge"):
            with VaultClient.from_env() as client:
                kv.purge(client, mailu_secret_key_path(str(props["tenant_id"])))


class MailuSecretKey(pulumi.dynamic.Resource, module="vault", name="MailuSecretKey"):
    path: pulumi.Output[str]
    version: pulumi.Output[int]

    def __init__(
        self, name: str, *, tenant_id: pulumi.Input[str], rotation_trigger: pulumi.Input[str] = "",
        purge: pulumi.Input[bool] = False, opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {"tenant_id": tenant_id, "rotation_trigger": rotation_trigger, "purge": purge,
                 "path": None, "version": None}
        super().__init__(_MailuSecretKeyProvider(), name, props, opts)
