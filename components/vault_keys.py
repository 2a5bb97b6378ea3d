"""Pulumi dynamic resources over ``vault.keys`` / ``vault.smtp``: ``SshKeyPair``, ``DkimKey``, ``SmtpCredential``.

- **create** generates the key (or password) in memory and writes it straight into Vault.
- **state** holds only the Vault path, version, fingerprint and public key (or username): no private material,
  not even as a Pulumi secret.
- **rotate**: changing ``rotation_trigger`` (any string, e.g. a date) or the key parameters writes a new KV
  version at the same path (update, history kept). Changing the tenant/domain/selector is a replace (new path).
- **delete** keeps the secret in Vault (audit trail) unless the input ``purge`` is true (that needs an admin
  token: the system policy cannot delete history).
- **Credentials**: the provider reads ``VAULT_ADDRS``/``VAULT_ADDR`` and ``VAULT_TOKEN`` or
  ``VAULT_ROLE_ID``+``VAULT_SECRET_ID`` from the environment of the ``pulumi`` process at run time; they are
  never inputs or state. The Vault client is built inside each provider method (providers are pickled).
- **preview**: ``check`` skips inputs not known yet and ``diff`` counts an unknown as a change (replace or update by
  key), through ``components.unknowns``.
- **refresh** (``read``) reports what Vault holds now: path, latest version, fingerprint, public key (so a rotation
  done by a task shows as drift); a secret gone from Vault reads as deleted. Vault unreachable fails the refresh:
  Vault is the source of truth here, and keeping stale versions would hide a rotation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi
import pulumi.dynamic

from components.unknowns import changed_keys, diff_result, known_checks
from toolkit.errors import ToolkitError
from vault import keys as vkeys
from vault import kv, paths, smtp
from vault.claims import require_claim
from vault.client import VaultClient
from vault.errors import SecretNotFound

SSH_INPUTS = ("tenant_id", "kind", "algorithm", "bits", "rotation_days", "rotation_trigger", "revoked", "purge")
DKIM_INPUTS = ("domain", "selector", "nonce", "bits", "rotation_trigger", "purge")
SMTP_INPUTS = ("tenant_id", "domain", "webmail_url", "rotation_trigger", "purge")


def _client() -> VaultClient:
    return VaultClient.from_env()


def _failures(checks: list[tuple[str, Callable[[], object]]]) -> list[pulumi.dynamic.CheckFailure]:
    failures = []
    for key, check in checks:
        try:
            check()
        except (ToolkitError, ValueError) as exc:
            failures.append(pulumi.dynamic.CheckFailure(key, str(exc)))
    return failures


def _purge_if_asked(id_: str, props: dict[str, Any]) -> None:
    if not props.get("purge"):
        return  # kept in Vault on purpose: the history is the audit trail
    mount, _, rest = id_.partition("/")
    with _client() as client:
        kv.purge(client, paths.SecretPath(mount, rest))


def _read_public(id_: str, props: dict[str, Any], inputs: tuple[str, ...]) -> pulumi.dynamic.ReadResult:
    mount, _, rest = id_.partition("/")
    with _client() as client:
        try:
            stored = vkeys.read_public(client, paths.SecretPath(mount, rest))
        except SecretNotFound:
            return pulumi.dynamic.ReadResult(None, {})
    outs = {**{k: props.get(k) for k in inputs}, **_stored_outs(stored)}
    if stored.public_key == props.get("public_key") and props.get("version"):
        # Same key material: a later version only changed its state (activation, revocation), not the key.
        outs["version"] = props["version"]
    return pulumi.dynamic.ReadResult(id_, {**props, **outs}, {k: props.get(k) for k in inputs})


def _stored_outs(stored: vkeys.StoredKey) -> dict[str, Any]:
    return {"path": stored.path, "version": stored.version, "fingerprint": stored.fingerprint,
            "public_key": stored.public_key}


# ----------------------------------------------------------------------------------------------- SSH
class SshKeyPairProvider(pulumi.dynamic.ResourceProvider):
    serialize_as_secret_always = False  # it captures no secret

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.CheckResult:
        return pulumi.dynamic.CheckResult(news, _failures(known_checks(news, [
            ("tenant_id", ("tenant_id", "kind"),
             lambda: paths.ssh_key(str(news.get("tenant_id") or ""), news.get("kind") or "admin_ssh")),
            ("kind", ("kind",), lambda: paths.SshKeyKind(str(news.get("kind")))),
            ("algorithm", ("algorithm",), lambda: vkeys.SshAlgorithm(news.get("algorithm") or "rsa")),
        ])))

    def _store(self, props: dict[str, Any]) -> vkeys.StoredKey:
        with _client() as client:
            return vkeys.store_ssh_keypair(
                client, str(props["tenant_id"]), str(props["kind"]),
                algorithm=str(props.get("algorithm") or "rsa"), bits=int(props.get("bits") or vkeys.SSH_RSA_BITS),
                rotation_days=int(props.get("rotation_days") or vkeys.SSH_ROTATION_DAYS_DEFAULT),
                trigger=str(props.get("rotation_trigger") or ""),
            )

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        stored = self._store(props)
        return pulumi.dynamic.CreateResult(stored.path, {**props, **_stored_outs(stored)})

    def read(self, id_: str, props: dict[str, Any]) -> pulumi.dynamic.ReadResult:
        return _read_public(id_, props, SSH_INPUTS)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        replaces = changed_keys(olds, news, ("tenant_id", "kind"))
        updates = changed_keys(olds, news, ("algorithm", "bits", "rotation_days", "rotation_trigger", "revoked",
                                            "purge"))
        return diff_result(replaces, updates, delete_before_replace=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        if changed_keys(olds, news, ("algorithm", "bits", "rotation_days", "rotation_trigger")):
            return pulumi.dynamic.UpdateResult({**news, **_stored_outs(self._store(news))})
        if news.get("revoked") and not olds.get("revoked"):
            with _client() as client:
                version = vkeys.mark_ssh_revoked(client, str(news["tenant_id"]), str(news["kind"]),
                                                 reason="revoked by ssh.revoke")
            return pulumi.dynamic.UpdateResult({**olds, **news, "version": version})
        return pulumi.dynamic.UpdateResult({**olds, **news, **{k: olds.get(k) for k in
                                                              ("path", "version", "fingerprint", "public_key")}})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        _purge_if_asked(id_, props)


class SshKeyPair(pulumi.dynamic.Resource, module="vault", name="SshKeyPair"):
    """An SSH key pair of a tenant's VPS (``kind`` ``admin_ssh`` or ``tenant_ssh``) held only in Vault."""

    path: pulumi.Output[str]
    version: pulumi.Output[int]
    fingerprint: pulumi.Output[str]
    public_key: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        tenant_id: pulumi.Input[str],
        kind: pulumi.Input[str],
        algorithm: pulumi.Input[str] = "rsa",
        bits: pulumi.Input[int] = vkeys.SSH_RSA_BITS,
        rotation_days: pulumi.Input[int] = vkeys.SSH_ROTATION_DAYS_DEFAULT,
        rotation_trigger: pulumi.Input[str] = "",
        revoked: pulumi.Input[bool] = False,
        purge: pulumi.Input[bool] = False,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "tenant_id": tenant_id, "kind": kind, "algorithm": algorithm, "bits": bits,
            "rotation_days": rotation_days, "rotation_trigger": rotation_trigger, "revoked": revoked, "purge": purge,
            "path": None, "version": None, "fingerprint": None, "public_key": None,
        }
        super().__init__(SshKeyPairProvider(), name, props, opts)


# ---------------------------------------------------------------------------------------------- DKIM
class DkimKeyProvider(pulumi.dynamic.ResourceProvider):
    serialize_as_secret_always = False

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.CheckResult:
        selector = news.get("selector") or olds.get("selector") or vkeys.dated_selector()
        news = {**news, "selector": selector}  # a dated default, fixed at the first run
        return pulumi.dynamic.CheckResult(news, _failures(known_checks(news, [
            ("domain", ("domain", "selector"), lambda: paths.dkim(str(news.get("domain") or ""), selector)),
        ])))

    def _store(self, props: dict[str, Any]) -> dict[str, Any]:
        with _client() as client:
            require_claim(client, str(props["domain"]), str(props.get("tenant_id") or ""))
            stored = vkeys.store_dkim_key(client, str(props["domain"]), str(props["selector"]),
                                          bits=int(props.get("bits") or vkeys.DKIM_RSA_BITS),
                                          nonce=str(props.get("nonce") or ""))
        dns_value = f"v=DKIM1; k=rsa; p={stored.public_key}"
        return {**_stored_outs(stored), "dns_value": dns_value, "dns_strings": vkeys.dkim_txt_strings(dns_value),
                "record_name": f"{props['selector']}._domainkey.{props['domain']}"}

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        outs = self._store(props)
        return pulumi.dynamic.CreateResult(outs["path"], {**props, **outs})

    def read(self, id_: str, props: dict[str, Any]) -> pulumi.dynamic.ReadResult:
        return _read_public(id_, props, DKIM_INPUTS)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        replaces = changed_keys(olds, news, ("domain", "selector", "bits", "rotation_trigger"))
        updates = changed_keys(olds, news, ("purge",))
        # "nonce" only guards the first create (taking over an interrupted one): it never replaces a key.
        return diff_result(replaces, updates, delete_before_replace=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        kept = ("path", "version", "fingerprint", "public_key", "dns_value", "dns_strings", "record_name")
        return pulumi.dynamic.UpdateResult({**olds, **news, **{k: olds.get(k) for k in kept}})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        if props.get("purge"):
            _purge_if_asked(id_, props)
            return
        with _client() as client:  # kept for audit, and truthful: a key the stack no longer has is not in service
            try:
                state = str(kv.read(client, paths.dkim(str(props["domain"]), str(props["selector"]))).data.get("state"))
            except SecretNotFound:
                return
            if state in (vkeys.DkimState.PENDING.value, vkeys.DkimState.ACTIVE.value):
                vkeys.set_dkim_state(client, str(props["domain"]), str(props["selector"]), vkeys.DkimState.RETIRED)


class DkimKey(pulumi.dynamic.Resource, module="vault", name="DkimKey"):
    """A DKIM key of a domain at ``dkim/<domain>/<selector>`` (selector defaults to a dated ``pmYYYYMMDD``)."""

    path: pulumi.Output[str]
    version: pulumi.Output[int]
    selector: pulumi.Output[str]
    fingerprint: pulumi.Output[str]
    public_key: pulumi.Output[str]
    dns_value: pulumi.Output[str]
    dns_strings: pulumi.Output[list[str]]
    record_name: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        domain: pulumi.Input[str],
        selector: pulumi.Input[str] | None = None,
        nonce: pulumi.Input[str] = "",
        bits: pulumi.Input[int] = vkeys.DKIM_RSA_BITS,
        rotation_trigger: pulumi.Input[str] = "",
        purge: pulumi.Input[bool] = False,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "domain": domain, "selector": selector, "nonce": nonce, "bits": bits, "rotation_trigger": rotation_trigger,
            "purge": purge, "path": None, "version": None, "fingerprint": None, "public_key": None,
            "dns_value": None, "dns_strings": None, "record_name": None,
        }
        props["tenant_id"] = pulumi.get_stack()  # the domain owner = the stack (named after its tenant)
        super().__init__(DkimKeyProvider(), name, props, opts)


# ---------------------------------------------------------------------------------------------- SMTP
class SmtpCredentialProvider(pulumi.dynamic.ResourceProvider):
    serialize_as_secret_always = False

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.CheckResult:
        return pulumi.dynamic.CheckResult(news, _failures(known_checks(news, [
            ("tenant_id", ("tenant_id",), lambda: paths.smtp_admin(str(news.get("tenant_id") or ""))),
            ("domain", ("domain",), lambda: paths.dkim(str(news.get("domain") or ""), "x")),
        ])))

    def _store(self, props: dict[str, Any]) -> dict[str, Any]:
        with _client() as client:
            stored, _password = smtp.store_admin_credential(
                client, str(props["tenant_id"]), str(props["domain"]),
                webmail_url=str(props["webmail_url"]) if props.get("webmail_url") else None,
                trigger=str(props.get("rotation_trigger") or ""),
            )
        return {"path": stored.path, "version": stored.version, "username": stored.username,
                "webmail_url_out": stored.webmail_url}

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        outs = self._store(props)
        return pulumi.dynamic.CreateResult(outs["path"], {**props, **outs})

    def read(self, id_: str, props: dict[str, Any]) -> pulumi.dynamic.ReadResult:
        with _client() as client:
            try:
                stored = smtp.read_admin_credential(client, str(props["tenant_id"]))
            except SecretNotFound:
                return pulumi.dynamic.ReadResult(None, {})
        outs = {"path": stored.path, "version": stored.version, "username": stored.username,
                "webmail_url_out": stored.webmail_url}
        return pulumi.dynamic.ReadResult(id_, {**props, **outs}, {k: props.get(k) for k in SMTP_INPUTS})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        replaces = changed_keys(olds, news, ("tenant_id",))
        updates = changed_keys(olds, news, ("domain", "webmail_url", "rotation_trigger", "purge"))
        return diff_result(replaces, updates, delete_before_replace=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        if changed_keys(olds, news, ("domain", "webmail_url", "rotation_trigger")):
            return pulumi.dynamic.UpdateResult({**news, **self._store(news)})
        kept = ("path", "version", "username", "webmail_url_out")
        return pulumi.dynamic.UpdateResult({**olds, **news, **{k: olds.get(k) for k in kept}})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        _purge_if_asked(id_, props)


class SmtpCredential(pulumi.dynamic.Resource, module="vault", name="SmtpCredential"):
    """The Mailu admin credential at ``smtp/<tenant>/admin`` (password transit-encrypted; never in state).

    Rotating (``rotation_trigger``) writes a new password into Vault; setting it in Mailu is the installer's job."""

    path: pulumi.Output[str]
    version: pulumi.Output[int]
    username: pulumi.Output[str]
    webmail_url_out: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        tenant_id: pulumi.Input[str],
        domain: pulumi.Input[str],
        webmail_url: pulumi.Input[str] | None = None,
        rotation_trigger: pulumi.Input[str] = "",
        purge: pulumi.Input[bool] = False,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "tenant_id": tenant_id, "domain": domain, "webmail_url": webmail_url,
            "rotation_trigger": rotation_trigger, "purge": purge,
            "path": None, "version": None, "username": None, "webmail_url_out": None,
        }
        super().__init__(SmtpCredentialProvider(), name, props, opts)
