"""``IntentRecord``: the day-2 intent record (``fleet.intent``) as a resource, so ``pulumi destroy`` settles it.

The program reads and (on the first ``up``) stores the record before any resource exists; this resource only owns
its end: on destroy it is purged with the other secrets when ``purge`` is set, otherwise archived (fresh key
generations and no selector in service), so a stack created again later never takes over the old keys.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi.dynamic

from components.unknowns import changed_keys, diff_result
from fleet import intent
from vault import kv, paths
from vault.client import VaultClient


class IntentRecordProvider(pulumi.dynamic.ResourceProvider):
    serialize_as_secret_always = False

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        return pulumi.dynamic.CreateResult(paths.intent(str(props["tenant_id"])).logical, dict(props))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        return diff_result(changed_keys(olds, news, ("tenant_id",)), changed_keys(olds, news, ("purge",)))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        return pulumi.dynamic.UpdateResult(dict(news))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        tenant = str(props["tenant_id"])
        with VaultClient.from_env() as client:
            if props.get("purge"):
                kv.purge(client, paths.intent(tenant))
            elif intent.load(client, tenant) is not None:
                intent.change(client, tenant, intent.archived)


class IntentRecord(pulumi.dynamic.Resource, module="vault", name="IntentRecord"):
    """The end of life of ``vps/<tenant>/intent`` (see the module docstring)."""

    def __init__(self, name: str, *, tenant_id: str, purge: bool, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(IntentRecordProvider(), name, {"tenant_id": tenant_id, "purge": purge}, opts)
