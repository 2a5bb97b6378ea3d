from __future__ import annotations

import logging

import pytest

from tests import pem
from toolkit.redact import REDACTED, RedactingFilter, Redactor, Secret, redact_mapping


def test_secret_never_shows_value() -> None:
    secret = Secret("hunter2-very-secret")
    assert "hunter2" not in repr(secret)
    assert "hunter2" not in str(secret)
    assert "hunter2" not in f"{secret}"
    assert secret.reveal() == "hunter2-very-secret"


def test_registered_values_and_patterns_are_scrubbed() -> None:
    redactor = Redactor()
    redactor.register("apikey-123456", None, "abc")  # too-short values are ignored
    key_text = f"{pem.begin('OPENSSH')}\nAAAA\n{pem.end('OPENSSH')}"
    text = (
        f"key=apikey-123456 {key_text} token pm_live_{'a' * 32} password=p4ss&API=zz "
        "vault s.abcdefghijklmnopqrstuvwx abc"
    )
    out = redactor.scrub(text)
    for leaked in ("apikey-123456", "BEGIN OPENSSH", "pm_live_", "p4ss", "API=zz", "s.abcdefghij"):
        assert leaked not in out, out
    assert out.endswith("abc")
    assert REDACTED in out


def test_redact_mapping_recurses() -> None:
    data = {"action": "get_instance", "API": "k", "inner": {"password": "p", "ok": 1}, "keys[]": ["a"]}
    out = redact_mapping(data)
    assert out["API"] == REDACTED and out["inner"]["password"] == REDACTED and out["inner"]["ok"] == 1
    assert out["action"] == "get_instance"


def test_logging_filter_scrubs_message_and_exception(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.redact")
    caplog.handler.addFilter(RedactingFilter())
    try:
        raise RuntimeError("password=topsecret1")
    except RuntimeError:
        logger.exception("call failed with configkey=%s", "cfgsecret9")
    assert "topsecret1" not in caplog.text and "cfgsecret9" not in caplog.text
