"""The Vault cluster stack's pure parts: operators' PGP keys, the stack config's refusals, the node config (one
renderer), the CA and node certificates, the node's managed files."""

from __future__ import annotations

import base64
import ipaddress
import os
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from toolkit.errors import ValidationError
from toolkit.redact import Secret
from vault import tls
from vault.cluster_config import ClusterConfigError, parse_cluster_config
from vault.cluster_host import KEY_FILE, SEAL_KEY_FILE, NodeFiles, running_digest
from vault.pgp import parse_public_key, parse_public_keys
from vault.server import NodeConfig, NodeTls, render_config

ARMORED = """-----BEGIN PGP PUBLIC KEY BLOCK-----

mDMEaww5wRYJKwYBBAHaRw8BAQdA9CZlDJdQLdmgFipypDobQ4CdJULUtjuHT/zh
iUaWeiK0GFVuaXQgVGVzdCA8dW5pdEBwbS50ZXN0PoiQBBMWCAA4FiEEu6U64uxg
MO78bNPe6VGUg2wyRmMFAmsMOcECGwMFCwkIBwIGFQoJCAsCBBYCAwECHgECF4AA
CgkQ6VGUg2wyRmMlSQEA4aG35nDpt+S4nNcRBkCdEFoYqvxIgAVyGvDvS9mIiq4A
/jB6Jxr/2HZBzgCo9MB6+MyGxBKWJwv21l90Qc+rgzUFuDgEaww5wRIKKwYBBAGX
VQEFAQEHQNNcLdYMYueBLflKZHWI/DEsqs/4FMvGya1Kmu2i/PEKAwEIB4h4BBgW
CAAgFiEEu6U64uxgMO78bNPe6VGUg2wyRmMFAmsMOcECGwwACgkQ6VGUg2wyRmMh
FAEAzkMS2NyCWzq3lA+WhWQ4bqp5kgWVooEsCWK7H/FMivwBAOGhIQe63VQevw6V
inp7X7jXRuI2pxsqECzwmqWwEN8A
=n7EX
-----END PGP PUBLIC KEY BLOCK-----
"""
FINGERPRINT = "BBA53AE2EC6030EEFC6CD3DEE95194836C324663"  # as `gpg --fingerprint` shows it


def fake_key() -> str:
    """A syntactically valid v4 public-key packet (new format, tag 6) with a random body, base64."""
    body = b"\x04" + os.urandom(40)
    return base64.b64encode(bytes([0xC6, len(body)]) + body).decode()


def test_armored_and_base64_keys_give_gpgs_fingerprint() -> None:
    key = parse_public_key(ARMORED)
    assert key.fingerprint == FINGERPRINT
    assert parse_public_key(key.base64) == key


@pytest.mark.parametrize(("text", "problem"), [
    ("", "is empty"),
    ("-----BEGIN PGP PRIVATE KEY BLOCK-----\nlFgEaww5\n-----END PGP PRIVATE KEY BLOCK-----", "PRIVATE key block"),
    (base64.b64encode(bytes([0xC5, 2, 4, 0])).decode(), "is a PRIVATE key"),
    (base64.b64encode(bytes([0xC2, 2, 4, 0])).decode(), "not a public key"),
    ("not base64 at all!", "neither an armored"),
    (base64.b64encode(bytes([0xC6, 40, 4])).decode(), "cut short"),
])
def test_bad_keys_are_named(text: str, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        parse_public_key(text)


def test_the_same_operator_twice_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"pgp_keys\[1\].*same key as pgp_keys\[0\]"):
        parse_public_keys([ARMORED, ARMORED])


def raw(**overrides: object) -> dict[str, object]:
    values: dict[str, object] = {"cluster_name": "prod", "pgp_keys": [fake_key() for _ in range(5)],
                                 "openbao": {"version": "2.7.2", "sha256": "a" * 64}}
    values.update(overrides)
    return values


def test_a_valid_config_and_its_defaults() -> None:
    config = parse_cluster_config(raw(nodes="3"), "prod", Path("/proj"))
    assert (config.nodes, config.threshold, len(config.pgp_keys)) == (3, 3, 5)
    assert config.shares_file == Path("/proj/shares/prod.json")
    assert config.openbao.archive_url.endswith("/v2.7.2/bao_2.7.2_Linux_x86_64.tar.gz")
    assert config.label(1) == "pm-vault-prod-1-1"
    assert config.seal == "shamir"
    assert parse_cluster_config(raw(seal="static"), "prod", Path("/proj")).seal == "static"


@pytest.mark.parametrize(("overrides", "problem"), [
    ({"nodes": 1}, "pm:nodes is 1: a raft cluster needs an odd number of nodes, at least 3"),
    ({"nodes": 2}, "pm:nodes is 2"),
    ({"nodes": 4}, "pm:nodes is 4"),
    ({"pgp_keys": None}, "pm:pgp_keys is missing"),
    ({"pgp_keys": []}, "pm:pgp_keys is missing"),
    ({"threshold": 6}, "pm:threshold is 6"),
    ({"threshold": 1}, "pm:threshold is 1"),
    ({"openbao": {"version": "2.7.2"}}, "pm:sha256 must be the 64 lower-case hex digits"),
    ({"openbao": None}, "pm:openbao must give at least `version`"),
    ({"cluster_name": "Prod!"}, "pm:cluster_name"),
    ({"replicas": 3}, "pm:replicas is not a setting"),
    ({"seal": "transit"}, "pm:seal is 'transit': use 'shamir'"),
    ({"operator_role_id": "r"}, "pm:operator_secret_id is missing"),
    ({"operator_secret_id": "s"}, "pm:operator_role_id is missing"),
])
def test_bad_configs_are_refused_naming_the_key(overrides: dict[str, object], problem: str) -> None:
    with pytest.raises(ClusterConfigError, match=problem.replace("(", r"\(")):
        parse_cluster_config(raw(**overrides), "prod", Path("/proj"))


def test_every_problem_is_named_at_once() -> None:
    with pytest.raises(ClusterConfigError) as caught:
        parse_cluster_config(raw(nodes=2, pgp_keys=None), "prod", Path("/proj"))
    assert [key for key, _ in caught.value.problems] == ["nodes", "pgp_keys"]


def test_node_config_with_tls_joins_peers_over_verified_https() -> None:
    text = render_config(NodeConfig(
        node_id="prod-0-g1", listen="10.0.0.1:8200", api_addr="https://10.0.0.1:8200",
        cluster_addr="https://10.0.0.1:8201", data_dir="/var/lib/openbao/data", audit_log="/var/log/openbao/a.log",
        peers=("https://10.0.0.2:8200", "https://10.0.0.3:8200"), tls=NodeTls("/c.pem", "/k.pem", "/ca.pem")))
    assert 'tls_cert_file = "/c.pem"' in text and "tls_disable" not in text
    assert text.count("retry_join {") == 2 and text.count('leader_ca_cert_file = "/ca.pem"') == 2
    assert 'cluster_address = "10.0.0.1:8201"' in text and 'node_id = "prod-0-g1"' in text
    assert 'audit "file" "file"' in text and "telemetry" not in text and "ui = false" in text


def test_node_certificate_is_signed_by_the_ca_and_names_the_node() -> None:
    ca = tls.new_ca("prod")
    node = tls.node_certificate(ca, node_id="prod-0-g1", address="10.0.0.1", cluster_name="prod.vault")
    cert = x509.load_pem_x509_certificate(node.cert_pem.encode())
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem.encode())
    cert.verify_directly_issued_by(ca_cert)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("10.0.0.1") in sans.get_values_for_type(x509.IPAddress)
    assert {"prod-0-g1", "prod.vault"} <= set(sans.get_values_for_type(x509.DNSName))
    assert isinstance(ca.key_pem, Secret) and "PRIVATE" not in repr(ca)
    assert ca_cert.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)


def test_a_foreign_ca_key_is_refused() -> None:
    ca, other = tls.new_ca("prod"), tls.new_ca("other")
    with pytest.raises(ValidationError, match="does not match"):
        tls.node_certificate(tls.CertKey(ca.cert_pem, other.key_pem), node_id="n", address="10.0.0.1",
                             cluster_name="c")


def test_an_unchanged_certificate_keeps_the_nodes_key() -> None:
    ca = tls.new_ca("prod")
    node = tls.node_certificate(ca, node_id="n", address="10.0.0.1", cluster_name="c")
    fresh = NodeFiles("n", "10.0.0.1", (), ca.cert_pem, node.cert_pem, node.key_pem).files()
    kept = NodeFiles("n", "10.0.0.1", (), ca.cert_pem, node.cert_pem, None).files()
    assert fresh[KEY_FILE][1] == 0o600 and KEY_FILE not in kept


def test_auto_unseal_puts_the_static_seal_in_the_config_and_the_key_on_disk_for_the_service_only() -> None:
    ca = tls.new_ca("prod")
    node = tls.node_certificate(ca, node_id="n", address="10.0.0.1", cluster_name="c")
    key = Secret(base64.b64encode(os.urandom(32)).decode())
    sealed = NodeFiles("n", "10.0.0.1", (), ca.cert_pem, node.cert_pem, None, seal_key=key, seal_key_id="prod-seal-1")
    files = sealed.files()
    assert files[SEAL_KEY_FILE] == (base64.b64decode(key.reveal()), 0o400)
    config = sealed.config()
    assert 'seal "static" {' in config and 'current_key_id = "prod-seal-1"' in config
    assert f'current_key = "file://{SEAL_KEY_FILE}"' in config and key.reveal() not in config
    shamir = NodeFiles("n", "10.0.0.1", (), ca.cert_pem, node.cert_pem, None)
    assert "seal" not in shamir.config() and SEAL_KEY_FILE not in shamir.files()


def test_the_running_digest_follows_what_the_process_reads_and_never_a_key() -> None:
    ca = tls.new_ca("prod")
    node = tls.node_certificate(ca, node_id="n", address="10.0.0.1", cluster_name="c")
    files = NodeFiles("n", "10.0.0.1", (), ca.cert_pem, node.cert_pem, node.key_pem)
    same = NodeFiles("n", "10.0.0.1", ("10.0.0.2",), ca.cert_pem, node.cert_pem, None)
    renewed = tls.node_certificate(ca, node_id="n", address="10.0.0.1", cluster_name="c")
    other = NodeFiles("n", "10.0.0.1", (), ca.cert_pem, renewed.cert_pem, renewed.key_pem)
    digest = running_digest("a" * 64, files)
    assert digest == running_digest("a" * 64, NodeFiles("n", "10.0.0.1", (), ca.cert_pem, node.cert_pem, None))
    assert digest != running_digest("b" * 64, files)  # a new binary
    assert digest != running_digest("a" * 64, other)  # a renewed certificate
    assert digest != running_digest("a" * 64, same)  # peers are in the config file (read at start)


def test_an_adopted_operator_approle_must_be_a_pulumi_secret() -> None:
    values = raw(operator_role_id="role", operator_secret_id="sid-42")
    with pytest.raises(ClusterConfigError, match="pm:operator_secret_id is in clear in the stack file"):
        parse_cluster_config(values, "prod", Path("/proj"), secret_keys_ok=lambda _key: False)
    config = parse_cluster_config(values, "prod", Path("/proj"), secret_keys_ok=lambda key: key == "operator_secret_id")
    assert config.operator_role_id == "role" and config.operator_secret_id is not None
    assert config.operator_secret_id.reveal() == "sid-42" and "sid-42" not in repr(config)
