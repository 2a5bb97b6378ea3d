"""SSH layer without a server: key loading, known_hosts parsing, stat parsing, secret guards, error texts."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests import pem
from tests.fixtures.mailu import make_ed25519
from toolkit.errors import ConfigError, RemoteError
from toolkit.redact import Secret
from toolkit.ssh import (
    CommandFailed,
    KnownHosts,
    SecretInCommandError,
    SshError,
    SshExecutor,
    _parse_stat_line,
    _stat_script,
    load_private_key,
)


def _pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, fmt: serialization.PrivateFormat) -> str:
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()


def test_loads_ed25519_rsa_and_ecdsa_keys_from_memory() -> None:
    assert load_private_key(make_ed25519().private).get_name() == "ssh-ed25519"
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert load_private_key(_pem(rsa_key, serialization.PrivateFormat.TraditionalOpenSSL)).get_name() == "ssh-rsa"
    assert load_private_key(Secret(_pem(rsa_key, serialization.PrivateFormat.OpenSSH))).get_name() == "ssh-rsa"
    ec_key = ec.generate_private_key(ec.SECP256R1())
    assert load_private_key(_pem(ec_key, serialization.PrivateFormat.TraditionalOpenSSL)).get_name().startswith(
        "ecdsa-")


def test_bad_key_error_names_the_field_and_not_the_value() -> None:
    garbage = f"{pem.begin('OPENSSH')}\nnot-a-key-SECRETPART\n{pem.end('OPENSSH')}\n"
    with pytest.raises(ConfigError) as info:
        load_private_key(Secret(garbage))
    assert info.value.field == "private_key"
    assert "SECRETPART" not in str(info.value)


def test_known_hosts_lines() -> None:
    pair = make_ed25519()
    public = pair.public.split()
    known = KnownHosts(lines=[f"[127.0.0.9]:2222 {public[0]} {public[1]}", "# comment", ""])
    entries = known.entries()
    assert len(entries) == 1 and entries[0].hostnames == ["[127.0.0.9]:2222"]
    with pytest.raises(ConfigError):
        KnownHosts(lines=["nonsense"]).entries()


def test_stat_line_parsing() -> None:
    stat = _parse_stat_line("/mailu/mailu.env", "600|root|root|0|0|regular file|" + "a" * 64)
    assert stat is not None and (stat.kind, stat.mode, stat.owner, stat.sha256) == ("file", 0o600, "root", "a" * 64)
    assert stat.owned_by("root", "root") and stat.owned_by("0", "0") and not stat.owned_by("mail", "root")
    folder = _parse_stat_line("/mailu", "755|root|root|0|0|directory|-")
    assert folder is not None and folder.kind == "dir" and folder.sha256 is None
    assert _parse_stat_line("/x", "MISSING") is None
    with pytest.raises(SshError):
        _parse_stat_line("/x", "garbage")
    script = _stat_script(["/path with space/it's"])
    assert "'/path with space/it'\"'\"'s'" in script


def test_executor_repr_hides_the_key_and_refuses_secret_command_lines() -> None:
    pair = make_ed25519()
    executor = SshExecutor("127.0.0.9", pair.private)
    assert "PRIVATE" not in repr(executor)
    executor.register_secret(Secret("hunter2-the-password"), b"bytes-secret-value")
    with pytest.raises(SecretInCommandError):
        executor.run("echo hunter2-the-password")
    with pytest.raises(SecretInCommandError):
        executor.run(["printf", "%s", "bytes-secret-value"])
    assert "hunter2" not in executor.scrub("login failed for hunter2-the-password")


def test_command_failed_is_a_remote_error_with_tail() -> None:
    error = CommandFailed("h", "false", 1, "", "x" * 5000 + "END")
    assert isinstance(error, RemoteError)
    assert str(error).endswith("END") and len(str(error)) < 2200


def test_invalid_port_and_host() -> None:
    pair = make_ed25519()
    with pytest.raises(ConfigError) as info:
        SshExecutor("h", pair.private, port=0)
    assert info.value.field == "port"
    with pytest.raises(ConfigError):
        SshExecutor("", pair.private)
