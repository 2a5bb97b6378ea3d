"""Reading both reply families, finding errors anywhere, and mapping them to typed errors."""

from __future__ import annotations

from typing import Any

import pytest

from hostwinds.errors import (
    AuthError,
    HostwindsApiError,
    HostwindsTransientError,
    HostwindsValidationError,
    InvalidActionError,
    InvalidServiceIdError,
    RateLimitedError,
)
from hostwinds.models import FirewallProfile, Instance
from hostwinds.parsing import decode, find_error, mutation_results, read_payload
from hostwinds.transport import encode_form
from toolkit.errors import RemoteError, TransientError, ValidationError


def test_read_family_returns_success_payload() -> None:
    assert read_payload({"success": [{"serviceid": 1}]}, "get_instances") == [{"serviceid": 1}]
    assert read_payload({"success": True}, "check_serviceid") is True
    assert read_payload([{"success": {"a": 1}}], "get_instance") == {"a": 1}


def test_mutation_family_two_entries() -> None:
    reply = [{"result": "success", "action": "Invoice Paid", "message": "Invoice Paid"},
             {"result": "success", "action": "Add Instance", "message": "Server is being Created!"}]
    entries = mutation_results(reply, "add_instance")
    assert [e.action for e in entries] == ["Invoice Paid", "Add Instance"]
    assert all(e.ok for e in entries)


def test_mutation_accepts_bare_object_and_success_dict() -> None:
    assert mutation_results({"result": "success", "message": "ok"}, "boot")[0].ok
    assert mutation_results({"success": True}, "boot")[0].ok


def test_error_anywhere_in_a_mixed_reply_is_a_failure() -> None:
    reply = [{"result": "success", "action": "Invoice Paid", "message": "Invoice Paid"},
             {"result": "error", "action": "Add Instance", "message": "Location Id is invalid.", "ERROR": "5011"}]
    with pytest.raises(HostwindsValidationError) as info:
        mutation_results(reply, "add_instance")
    assert info.value.field == "location_id"
    assert info.value.error_code == "5011"
    assert "Location Id is invalid." in str(info.value)
    assert isinstance(info.value, ValidationError) and isinstance(info.value, RemoteError)


def test_error_nested_inside_success_is_found() -> None:
    assert find_error({"success": {"inner": [{"result": "ERROR", "message": "boom"}]}}) is not None


@pytest.mark.parametrize("reply", [
    {"result": "error", "action": "Authorization", "message": "Not Authorized!"},
    [{"result": "error", "action": "Authorization", "message": "Not Authorized!"}],
])
def test_auth_error_bare_or_wrapped(reply: Any) -> None:
    with pytest.raises(AuthError) as info:
        read_payload(reply, "get_instances")
    assert info.value.api_action == "Authorization"


@pytest.mark.parametrize(("message", "expected"), [
    ("Invalid Action.", InvalidActionError),
    ("A valid serviceid is required.", InvalidServiceIdError),
    ("Rate limit exceeded.", RateLimitedError),
    ("Service temporarily unavailable", HostwindsTransientError),
    ("Template is invalid.", HostwindsValidationError),
    ("Instance is locked.", HostwindsApiError),
])
def test_error_mapping(message: str, expected: type[Exception]) -> None:
    with pytest.raises(expected):
        mutation_results([{"result": "error", "message": message, "ERROR": "6734"}], "x_action")


def test_transient_and_non_transient_classes() -> None:
    assert issubclass(RateLimitedError, TransientError)
    assert not issubclass(HostwindsValidationError, TransientError)
    assert not issubclass(AuthError, TransientError)


def test_non_json_is_transient_and_scrubbed() -> None:
    with pytest.raises(HostwindsTransientError, match="not JSON"):
        decode("<html>502 Bad Gateway</html>", "get_instances")


def test_unexpected_shape_is_reported_without_values() -> None:
    with pytest.raises(HostwindsApiError, match=r"\{password, weird\}") as info:
        read_payload({"weird": 1, "password": "hunter2-secret"}, "get_instance")
    assert "hunter2" not in str(info.value)


def test_instance_model_keeps_secrets_out_of_repr() -> None:
    inst = Instance.from_api({"serviceid": 42, "srvrname": "pm-a-1", "status": "active", "task_state": None,
                              "main_ip": "1.2.3.4", "password": "RootPw-xyz-123", "configkey": "cfgkey-abc-987",
                              "ips": [{"ip": "1.2.3.4"}]})
    assert inst.serviceid == "42" and inst.status == "ACTIVE" and inst.ready
    assert inst.password is not None and inst.password.reveal() == "RootPw-xyz-123"
    text = repr(inst) + str(inst.raw)
    assert "RootPw-xyz-123" not in text and "cfgkey-abc-987" not in text


def test_instance_without_serviceid_is_rejected() -> None:
    with pytest.raises(ValueError, match="serviceid"):
        Instance.from_api({"srvrname": "x"})


def test_firewall_profile_shapes() -> None:
    assert FirewallProfile.from_api("mail").name == "mail"
    assert FirewallProfile.from_api({"name": "mail"}).name == "mail"
    assert FirewallProfile.from_api([{"profile": "web"}]).name == "web"


def test_php_style_list_params() -> None:
    assert encode_form({"action": "add_instance", "keys": ["a", "b"], "qty": 1}) == [
        ("action", "add_instance"), ("keys[]", "a"), ("keys[]", "b"), ("qty", "1")]
