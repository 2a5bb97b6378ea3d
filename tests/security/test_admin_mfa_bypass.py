"""Attack: log in as an admin with the password alone (item 7 of issue 11, "Admin MFA is client-side").

The second factor used to be checked by the toolkit after a userpass login that had already returned an admin
token, so anyone with the password got that token straight from the HTTP API. The server now enforces login MFA
on the userpass mount. Every attack here talks to a real OpenBao through the raw HTTP API (``requests``, not the
toolkit) and checks that no token was issued and nothing changed for the victim admin.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from sandbox.openbao import DevServer
from tests import totp
from toolkit.redact import Secret
from vault import auth, bootstrap
from vault.client import VaultClient

PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class Victim:
    address: str
    user: str
    secret: str
    """The TOTP key of the victim's authenticator (the attacker does not have it)."""

    def url(self, path: str) -> str:
        return f"{self.address}/v1/{path}"


@pytest.fixture()
def victim(openbao_dev: DevServer, vault_root: VaultClient,
           vault_bootstrap: bootstrap.BootstrapResult) -> Victim:
    user = "ops" + uuid.uuid4().hex[:8]
    enrollment = auth.create_admin(vault_root, user, Secret(PASSWORD))
    return Victim(openbao_dev.address, user, totp.secret_of(enrollment.url.reveal()))


@pytest.fixture()
def issued_tokens(vault_root: VaultClient) -> Iterator[set[str]]:
    """Accessors of every token that exists when the test starts (to prove no token was issued)."""
    yield set(vault_root.list("auth/token/accessors"))


def _new_tokens(vault_root: VaultClient, before: set[str]) -> set[str]:
    return set(vault_root.list("auth/token/accessors")) - before


def _victim_record(vault_root: VaultClient, victim: Victim) -> dict[str, Any]:
    user = (vault_root.read(f"auth/userpass/users/{victim.user}") or {})["data"]
    entity = vault_root.write("identity/lookup/entity", {
        "alias_name": victim.user, "alias_mount_accessor": bootstrap.userpass_accessor(vault_root)})
    assert entity is not None
    return {"policies": user["token_policies"], "entity": entity["data"]["id"],
            "entity_policies": entity["data"]["policies"], "disabled": entity["data"]["disabled"]}


def _password_login(victim: Victim, password: str = PASSWORD, **headers: str) -> requests.Response:
    return requests.post(victim.url(f"auth/userpass/login/{victim.user}"), json={"password": password},
                         headers=headers, timeout=5)


def _requirement(victim: Victim) -> dict[str, Any]:
    reply = _password_login(victim)
    assert reply.status_code == 200, reply.text
    requirement: dict[str, Any] = reply.json()["auth"]["mfa_requirement"]
    return requirement


def _validate(victim: Victim, requirement: dict[str, Any], code: str) -> requests.Response:
    method_ids = [o["id"] for c in requirement["mfa_constraints"].values() for o in c["any"]]
    return requests.post(victim.url("sys/mfa/validate"), timeout=5, json={
        "mfa_request_id": requirement["mfa_request_id"], "mfa_payload": {m: [code] for m in method_ids}})


def _can_read_admin_policy(victim: Victim, token: str) -> bool:
    reply = requests.get(victim.url("sys/policies/acl/admin"), headers={"X-Vault-Token": token}, timeout=5)
    return reply.status_code == 200


def test_password_only_login_gets_no_admin_token(vault_root: VaultClient, victim: Victim,
                                                 issued_tokens: set[str]) -> None:
    record = _victim_record(vault_root, victim)
    reply = _password_login(victim)
    assert reply.status_code == 200, reply.text
    auth_block = reply.json()["auth"]
    assert auth_block["client_token"] == "", "a password alone must not yield a token"
    assert not auth_block["policies"], "a password alone must not carry the admin policy"
    requirement = auth_block["mfa_requirement"]
    assert requirement["mfa_request_id"] and requirement["mfa_constraints"], "the server must demand the TOTP code"
    assert not _can_read_admin_policy(victim, requirement["mfa_request_id"]), "the MFA request id is no token"
    assert _new_tokens(vault_root, issued_tokens) == set()
    assert _victim_record(vault_root, victim) == record


def test_completing_the_login_without_a_code_is_refused(vault_root: VaultClient, victim: Victim,
                                                        issued_tokens: set[str]) -> None:
    requirement = _requirement(victim)
    for payload in ({}, {m["id"]: [] for c in requirement["mfa_constraints"].values() for m in c["any"]}):
        reply = requests.post(victim.url("sys/mfa/validate"), timeout=5, json={
            "mfa_request_id": requirement["mfa_request_id"], "mfa_payload": payload})
        assert reply.status_code in (400, 403), reply.text
        assert "client_token" not in reply.text
    assert _new_tokens(vault_root, issued_tokens) == set()


def test_wrong_totp_code_is_refused(vault_root: VaultClient, victim: Victim, issued_tokens: set[str]) -> None:
    record = _victim_record(vault_root, victim)
    requirement = _requirement(victim)
    reply = _validate(victim, requirement, totp.wrong_code(victim.secret))
    assert reply.status_code == 403, reply.text
    assert "MFA credentials not supplied or incorrect" in reply.text
    assert _new_tokens(vault_root, issued_tokens) == set()
    assert _victim_record(vault_root, victim) == record
    # the victim is not locked out by one wrong guess: the real code still completes the login
    good = _validate(victim, requirement, totp.code(victim.secret))
    assert good.status_code == 200, good.text
    assert "admin" in good.json()["auth"]["policies"]


def test_single_phase_header_with_a_guessed_code_is_refused(vault_root: VaultClient, victim: Victim,
                                                            issued_tokens: set[str]) -> None:
    method_id = bootstrap.require_admin_mfa(vault_root)
    reply = _password_login(victim, **{"X-Vault-MFA": f"{method_id}:{totp.wrong_code(victim.secret)}"})
    assert reply.status_code == 403, reply.text
    assert "client_token" not in reply.text
    assert _new_tokens(vault_root, issued_tokens) == set()


def test_password_and_valid_totp_yield_the_admin_token_and_a_replayed_code_is_refused(
        vault_root: VaultClient, victim: Victim, issued_tokens: set[str]) -> None:
    code = totp.code(victim.secret)
    reply = _validate(victim, _requirement(victim), code)
    assert reply.status_code == 200, reply.text
    token = reply.json()["auth"]["client_token"]
    assert "admin" in reply.json()["auth"]["policies"] and _can_read_admin_policy(victim, token)
    issued = _new_tokens(vault_root, issued_tokens)
    assert len(issued) == 1
    replay = _validate(victim, _requirement(victim), code)
    assert replay.status_code == 403, replay.text
    assert "client_token" not in replay.text
    assert _new_tokens(vault_root, issued_tokens) == issued, "the replayed code must not issue a second token"


def test_guessing_codes_is_locked_out_even_for_the_right_code(vault_root: VaultClient, victim: Victim,
                                                             issued_tokens: set[str]) -> None:
    requirement = _requirement(victim)
    limit = int(str(bootstrap.ADMIN_TOTP_SETTINGS["max_validation_attempts"]))
    answers: list[str] = []
    while len(answers) <= 2 * limit and "maximum TOTP validation attempts" not in (answers or [""])[-1]:
        reply = _validate(victim, requirement, totp.wrong_code(victim.secret))
        assert reply.status_code == 403, reply.text
        answers.append(reply.text)
    assert len(answers) > limit and "maximum TOTP validation attempts" in answers[-1], answers
    locked = _validate(victim, requirement, totp.code(victim.secret))
    assert locked.status_code == 403 and "maximum TOTP validation attempts" in locked.text, locked.text
    assert _new_tokens(vault_root, issued_tokens) == set()


def test_admin_without_a_totp_key_cannot_log_in_with_the_password(vault_root: VaultClient, openbao_dev: DevServer,
                                                                   vault_bootstrap: bootstrap.BootstrapResult,
                                                                   issued_tokens: set[str]) -> None:
    """An admin account written the old way (policy, password, no enrolment) is not a way around the MFA."""
    user = "legacy" + uuid.uuid4().hex[:6]
    vault_root.write(f"auth/userpass/users/{user}", {"password": PASSWORD, "token_policies": ["admin"]})
    victim = Victim(openbao_dev.address, user, "")
    requirement = _requirement(victim)
    reply = _validate(victim, requirement, "123456")
    assert reply.status_code == 403 and "MFA secret" in reply.text, reply.text
    assert _new_tokens(vault_root, issued_tokens) == set()
