"""TLS verification against the cluster CA (``VAULT_CACERT``) on a real HTTPS listener with a node certificate from
``vault.tls``: one-node requests of the Vault client (snapshots, backup walks) and the status section's certificate
read trust the cluster CA even when ``REQUESTS_CA_BUNDLE`` names another bundle, and refuse a node whose
certificate another CA signed."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import certifi
import pytest

from fleet.status_cluster import node_certificate
from toolkit.redact import Secret
from vault.client import VaultClient
from vault.config import VaultConfig
from vault.errors import VaultUnavailable
from vault.tls import new_ca
from vault.tls import node_certificate as issue


class _Raft(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"data": {"config": {"servers": []}}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        return None


@pytest.fixture
def tls_node(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTPS listener on loopback serving a node certificate of a fresh cluster CA; (address, CA file)."""
    ca = new_ca("ctls")
    node = issue(ca, node_id="ctls-0", address="127.0.0.1", cluster_name="ctls")
    (tmp_path / "node.pem").write_text(node.cert_pem)
    (tmp_path / "node.key").write_text(node.key_pem.reveal())
    (tmp_path / "ca.pem").write_text(ca.cert_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "node.pem", tmp_path / "node.key")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Raft)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", tmp_path / "ca.pem"
    finally:
        server.shutdown()
        server.server_close()


def test_one_node_requests_trust_the_cluster_ca_despite_requests_ca_bundle(
        tls_node: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    address, ca_file = tls_node
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())  # an operator's shell often exports one
    config = VaultConfig.from_env({"VAULT_ADDRS": address, "VAULT_TOKEN": "t", "VAULT_CACERT": str(ca_file)})
    with VaultClient(config, manage_token=False) as client:
        assert client.json("GET", "sys/storage/raft/configuration", address=address) == {
            "data": {"config": {"servers": []}}}
    cert = node_certificate(address, verify=str(ca_file))
    assert cert.not_after is not None and cert.error == ""


def test_a_node_signed_by_another_ca_is_refused(tls_node: tuple[str, Path], tmp_path: Path) -> None:
    address, _ca = tls_node
    other = tmp_path / "other-ca.pem"
    other.write_text(new_ca("other").cert_pem)
    config = VaultConfig((address,), token=Secret("t"), verify=str(other))
    with VaultClient(config, manage_token=False) as client, pytest.raises(VaultUnavailable, match="SSLError"):
        client.json("GET", "sys/storage/raft/configuration", address=address)
    cert = node_certificate(address, verify=str(other))
    assert cert.not_after is None and "SSLCertVerificationError" in cert.error
