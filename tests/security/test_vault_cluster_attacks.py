"""Attacks on the Vault cluster's initialisation: a server impersonating a node must never receive ``sys/init``
(whose reply carries the root token and the shares)."""

from __future__ import annotations

import http.server
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from toolkit.net import free_port
from vault import tls
from vault.cluster import ClusterRefused, initialise
from vault.nodes import probe_node


class _Recorder(http.server.BaseHTTPRequestHandler):
    seen: ClassVar[list[str]] = []

    def _answer(self) -> None:
        self.seen.append(f"{self.command} {self.path}")
        body = b'{"initialized": false, "sealed": true}'
        self.send_response(501)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PUT = _answer

    def log_message(self, *_args: object) -> None:
        return None


@pytest.fixture
def impostor(tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    """A TLS server at a node's address whose certificate comes from another CA (the attacker's)."""
    foreign = tls.new_ca("attacker")
    cert = tls.node_certificate(foreign, node_id="n0", address="127.0.0.1", cluster_name="prod.vault")
    (tmp_path / "cert.pem").write_text(cert.cert_pem)
    (tmp_path / "foreign-ca.pem").write_text(foreign.cert_pem)
    (tmp_path / "key.pem").write_text(cert.key_pem.reveal())
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _Recorder)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    _Recorder.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{port}", _Recorder.seen
    finally:
        server.shutdown()
        server.server_close()


def test_impersonated_node_with_a_foreign_certificate_never_gets_init(impostor: tuple[str, list[str]],
                                                                       tmp_path: Path) -> None:
    address, seen = impostor
    ours = tls.new_ca("prod")
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text(ours.cert_pem)
    shares = tmp_path / "shares.json"
    with pytest.raises(ClusterRefused, match=f"{address} did not answer over TLS \\(verified with the cluster CA\\)"):
        initialise([address], str(ca_file), pgp_keys=["x"], fingerprints=["X"], threshold=1, shares_file=shares,
                   unseal_wait=1)
    assert not any(request.startswith("PUT") for request in seen)  # the handshake failed: no request at all
    assert seen == [] and not shares.exists()
    # Control: the impostor does answer whoever trusts the attacker's CA.
    assert probe_node(address, verify=str(tmp_path / "foreign-ca.pem")).reachable and seen
