"""`invoke smtp.credentials` / `smtp.unwrap` on a real OpenBao: the operator re-authenticates through the admin
userpass mount (the server demands the TOTP code), gets a 900 s single-use view that shows username, password and
webmail URL once; refused without a valid second factor, for a non-admin identity and for a tenant that does not
exist. The clear password never appears in the issuing task's output, the logs, the audit log or Vault's audit log."""

from __future__ import annotations

import logging
import uuid

import pytest

from tasks_lib import smtp as smtp_tasks
from tests import totp
from tests.handover_env import Handovers, handovers, new_tenant, token_in
from toolkit.redact import Secret
from vault import auth, smtp, wrapping
from vault.client import VaultClient

__all__ = ["handovers"]
PASSWORD = "correct horse battery staple"


def _admin(vault_root: VaultClient) -> tuple[str, str]:
    """A fresh admin (its TOTP key): a code is accepted once, so each login gets its own admin."""
    user = "ops" + uuid.uuid4().hex[:8]
    return user, totp.secret_of(auth.create_admin(vault_root, user, Secret(PASSWORD)).url.reveal())


def _tenant_with_credential(h: Handovers) -> tuple[str, Secret]:
    tenant = new_tenant()
    h.declare(tenant)
    _stored, password = smtp.store_admin_credential(h.system, tenant, f"{tenant}.example.com")
    return tenant, password


def _tokens(vault_root: VaultClient) -> set[str]:
    return set(vault_root.list("auth/token/accessors"))


def test_the_view_shows_username_password_and_webmail_once(handovers: Handovers, vault_root: VaultClient,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    h = handovers
    tenant, password = _tenant_with_credential(h)
    user, key = _admin(vault_root)
    before = _tokens(vault_root)
    token = h.smtp_view(tenant, user, PASSWORD, totp.code(key))
    issued_output = h.last_output
    found = wrapping.lookup(vault_root, token)
    assert found is not None and found["creation_ttl"] == 900
    remaining = [vault_root.write("auth/token/lookup-accessor", {"accessor": a}) or {}
                 for a in _tokens(vault_root) - before]
    assert [r["data"]["policies"] for r in remaining] == [["response-wrapping"]] * 2, \
        "the operator's session ends with the view: only the envelope and the wrapped decrypt remain"

    shown = h.run(smtp_tasks.unwrap, tenant, stdin=token + "\n")
    assert f"username: admin@{tenant}.example.com" in shown
    assert f"password: {password.reveal()}" in shown
    assert f"webmail:  https://mail.{tenant}.example.com/webmail" in shown
    again = h.refused(smtp_tasks.unwrap, tenant, stdin=token + "\n")
    assert "already used" in again and f"invoke rotate.smtp --tenant {tenant}" in again

    events = h.events()
    assert [(e["event"], e["outcome"]) for e in events] == [
        ("smtp.credentials", "ok"), ("smtp.unwrap", "ok"), ("smtp.unwrap", "refused")]
    assert events[0]["details"]["vault_user"] == user and events[0]["details"]["version"] == 1
    assert events[0]["details"]["accessor"] == events[1]["details"]["accessor"]
    assert events[1]["details"]["path"] == f"smtp/{tenant}/admin"
    clear = password.reveal()
    for text in (issued_output, again, caplog.text, h.audit_log.read_text(), h.server.audit_log.read_text()):
        assert clear not in text and PASSWORD not in text
    assert token not in h.audit_log.read_text()


def test_refused_without_a_valid_second_factor(handovers: Handovers, vault_root: VaultClient) -> None:
    h = handovers
    tenant, _ = _tenant_with_credential(h)
    user, key = _admin(vault_root)
    before = _tokens(vault_root)
    common = {"user": user, "work_dir": str(h.root)}
    no_code = h.refused(smtp_tasks.credentials, tenant, stdin=PASSWORD + "\n", **common)
    assert "TOTP code" in no_code and "nothing was given" in no_code
    wrong = h.refused(smtp_tasks.credentials, tenant, totp=totp.wrong_code(key), stdin=PASSWORD + "\n", **common)
    assert "the TOTP code is wrong" in wrong
    bad_password = h.refused(smtp_tasks.credentials, tenant, totp=totp.code(key), stdin="not the password\n", **common)
    assert "wrong user name or password" in bad_password

    unenrolled = "ops" + uuid.uuid4().hex[:8]  # an admin-policy user the TOTP method knows nothing of
    vault_root.write(f"auth/userpass/users/{unenrolled}", {"password": PASSWORD, "token_policies": ["admin"]})
    refused = h.refused(smtp_tasks.credentials, tenant, user=unenrolled, totp="123456", work_dir=str(h.root),
                        stdin=PASSWORD + "\n")
    assert "login of" in refused and "failed" in refused
    assert _tokens(vault_root) == before, "no token of any kind was issued"
    assert [e["outcome"] for e in h.events()] == ["refused"] * 4


def test_refused_for_a_non_admin_identity(handovers: Handovers, vault_root: VaultClient) -> None:
    h = handovers
    tenant, _ = _tenant_with_credential(h)
    user, key = _admin(vault_root)
    vault_root.write(f"auth/userpass/users/{user}", {"token_policies": ["default"]})  # both factors, no admin policy
    before = _tokens(vault_root)
    refused = h.refused(smtp_tasks.credentials, tenant, user=user, totp=totp.code(key), work_dir=str(h.root),
                        stdin=PASSWORD + "\n")
    assert "does not hold the 'admin' policy" in refused
    assert _tokens(vault_root) == before, "the session was ended and no view issued"


def test_refused_for_a_tenant_that_does_not_exist(handovers: Handovers, vault_root: VaultClient) -> None:
    h = handovers
    user, key = _admin(vault_root)
    ghost = new_tenant()
    code = totp.code(key)
    assert "no stack file" in h.refused(smtp_tasks.credentials, ghost, user=user, totp=code, work_dir=str(h.root),
                                        stdin=PASSWORD + "\n")
    h.declare(ghost)  # declared, never provisioned: the refusal comes after the login, and the session ends
    before = _tokens(vault_root)
    refused = h.refused(smtp_tasks.credentials, ghost, user=user, totp=code, work_dir=str(h.root),
                        stdin=PASSWORD + "\n")
    assert f"smtp/{ghost}/admin does not exist" in refused, "the code was not spent by the first refusal"
    assert _tokens(vault_root) == before


def test_a_view_of_another_tenant_is_refused_on_open(handovers: Handovers, vault_root: VaultClient) -> None:
    h = handovers
    tenant, _ = _tenant_with_credential(h)
    user, key = _admin(vault_root)
    token = token_in(h.run(smtp_tasks.credentials, tenant, user=user, totp=totp.code(key), work_dir=str(h.root),
                           stdin=PASSWORD + "\n"))
    other = new_tenant()
    assert f"holds the SMTP credentials of '{tenant}'" in h.refused(smtp_tasks.unwrap, other, stdin=token + "\n")
