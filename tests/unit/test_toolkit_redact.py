from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from tests import pem
from toolkit.redact import REDACTED, REDACTOR, Redactor, Secret, install_logging_redaction, redact_mapping


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


@pytest.fixture
def redacting_logs() -> Iterator[None]:
    before = logging.getLogRecordFactory()
    install_logging_redaction()
    install_logging_redaction()  # idempotent: one wrapper, not two
    try:
        yield
    finally:
        logging.setLogRecordFactory(before)


def test_installed_redaction_scrubs_message_arguments_and_exception(caplog: pytest.LogCaptureFixture,
                                                                     redacting_logs: None) -> None:
    logger = logging.getLogger("test.redact")
    REDACTOR.register("registered-secret-42")
    try:
        raise RuntimeError("password=topsecret1")
    except RuntimeError:
        logger.exception("call failed with configkey=%s and %s", "cfgsecret9", "registered-secret-42")
    assert "topsecret1" not in caplog.text and "cfgsecret9" not in caplog.text
    assert "registered-secret-42" not in caplog.text and "call failed" in caplog.text and "RuntimeError" in caplog.text
    logger.warning("no fit %s %s", "only-one")  # a wrong argument count never breaks the caller
    assert "log arguments dropped" in caplog.text


def test_every_handler_gets_scrubbed_records_even_one_added_afterwards(redacting_logs: None) -> None:
    seen: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(self.format(record))

    logger = logging.getLogger("test.redact.late")
    handler = Collect()
    logger.addHandler(handler)
    try:
        logger.error("token=%s", "s." + "A" * 24)
    finally:
        logger.removeHandler(handler)
    assert seen == [f"token={REDACTED}"]
