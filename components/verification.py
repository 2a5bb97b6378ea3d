"""``MailVerification``: after DNS and PTR are published, verify them at the authoritative servers.

Runs on create and whenever an input changes (the VPS IP, the DKIM key version, the record set digest); a failed
check fails the deployment with the per-record report. Outputs a short summary, never key material.

Preview: an unknown input (a new VPS IP, a new key version) counts as changed, so the verification shows as an
update (``components.unknowns``). Refresh keeps the state: the resource records a check made at deploy time, and
``invoke dns.check`` / ``status`` report today's DNS drift without touching the stack.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi.dynamic

from components.unknowns import changed_keys, diff_result
from fleet.verify import problem_lines, verify_tenant
from toolkit.errors import ToolkitError
from toolkit.tenant_config import parse_tenant_config
from vault.client import VaultClient


class VerificationFailed(ToolkitError):
    """Published DNS does not match what the tenant needs."""


def _verify(props: dict[str, Any]) -> dict[str, Any]:
    config = parse_tenant_config(json.loads(str(props["tenant_config"])))
    with VaultClient.from_env() as vault:  # the Hostwinds key, like Vault's credentials, from the engine's environment
        report = verify_tenant(config, mail_ip=str(props["mail_ip"]), vault=vault, serviceid=str(props["serviceid"]))
    if not report.ok:
        raise VerificationFailed("DNS verification failed:\n" + "\n".join(problem_lines(report)))
    statuses = [c.status for c in report.checks]
    return {**props, "checks": len(statuses), "ok": statuses.count("ok"), "skipped": statuses.count("skipped")}


class _VerificationProvider(pulumi.dynamic.ResourceProvider):
    serialize_as_secret_always = False

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        return pulumi.dynamic.CreateResult(f"verify-{props['mail_ip']}", _verify(props))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        keys = ("tenant_config", "mail_ip", "serviceid", "dkim_version", "records")
        return diff_result([], changed_keys(olds, news, keys))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        return pulumi.dynamic.UpdateResult(_verify(news))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return None


class MailVerification(pulumi.dynamic.Resource, module="mail", name="Verification"):
    checks: pulumi.Output[int]
    ok: pulumi.Output[int]

    def __init__(
        self, name: str, *, tenant_config: str, mail_ip: pulumi.Input[str], serviceid: pulumi.Input[str],
        dkim_version: pulumi.Input[int], records: pulumi.Input[list[str]], opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {"tenant_config": tenant_config, "mail_ip": mail_ip, "serviceid": serviceid,
                 "dkim_version": dkim_version, "records": records, "checks": None, "ok": None, "skipped": None}
        super().__init__(_VerificationProvider(), name, props, opts)
