"""Pure logic of the admin login MFA: answering the server's MFA requirement; the tests' own TOTP helper."""

from __future__ import annotations

from typing import Any

import pytest

from tests import totp
from vault.auth import mfa_validation
from vault.errors import VaultAuthError

_TOTP = {"type": "totp", "id": "m-totp", "uses_passcode": True}


def _requirement(**constraints: Any) -> dict[str, Any]:
    return {"mfa_request_id": "req-1", "mfa_constraints": constraints}


def test_the_code_goes_to_the_totp_method_of_each_enforcement() -> None:
    body = mfa_validation(_requirement(admins={"any": [{"type": "duo", "id": "m-duo", "uses_passcode": False},
                                                       _TOTP]}), "123456")
    assert body == {"mfa_request_id": "req-1", "mfa_payload": {"m-totp": ["123456"]}}


def test_two_enforcements_get_one_entry_each() -> None:
    other = {"type": "totp", "id": "m-other", "uses_passcode": True}
    body = mfa_validation(_requirement(a={"any": [_TOTP]}, b={"any": [other]}), "654321")
    assert body["mfa_payload"] == {"m-totp": ["654321"], "m-other": ["654321"]}


def test_an_enforcement_without_a_totp_method_is_refused_by_name() -> None:
    push = {"type": "duo", "id": "m-duo", "uses_passcode": False}
    with pytest.raises(VaultAuthError, match="enforcement push-only offers no TOTP method"):
        mfa_validation(_requirement(**{"push-only": {"any": [push]}}), "123456")


@pytest.mark.parametrize("requirement", [
    {}, {"mfa_request_id": "req-1"}, {"mfa_request_id": "", "mfa_constraints": {"a": {"any": [_TOTP]}}},
    {"mfa_request_id": "req-1", "mfa_constraints": {}}, {"mfa_request_id": "req-1", "mfa_constraints": []},
])
def test_a_malformed_requirement_is_refused(requirement: dict[str, Any]) -> None:
    with pytest.raises(VaultAuthError, match="malformed"):
        mfa_validation(requirement, "123456")


_RFC6238_KEY = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"  # base32 of the RFC 6238 SHA-1 test key "12345678901234567890"


@pytest.mark.parametrize(("at", "expected"), [(59, "94287082"), (1111111109, "07081804"), (2000000000, "69279037")])
def test_totp_helper_matches_rfc6238_vectors(at: int, expected: str) -> None:
    assert totp.code(_RFC6238_KEY, at, digits=8) == expected
    assert totp.code(_RFC6238_KEY, at) == expected[-6:]


def test_totp_helper_reads_the_key_of_an_enrolment_url_and_finds_a_wrong_code() -> None:
    url = f"otpauth://totp/pm-mail-infra:e1?algorithm=SHA1&digits=6&issuer=pm-mail-infra&period=30&secret={_RFC6238_KEY}"
    assert totp.secret_of(url) == _RFC6238_KEY
    wrong = totp.wrong_code(_RFC6238_KEY, 1111111109)
    assert wrong not in {totp.code(_RFC6238_KEY, 1111111109 + s * 30) for s in range(-2, 3)}
