"""The sandbox's BIND server: start, idempotence, zones added and removed, port clashes, TSIG key."""

from __future__ import annotations

from pathlib import Path

import pytest

from dnsrecords import wire
from sandbox.bind import BindServer
from toolkit.errors import SetupError
from toolkit.redact import REDACTED, scrub


def test_serves_its_zones_with_an_soa(bind_server: BindServer) -> None:
    for zone in ("sandbox.test", "2.0.192.in-addr.arpa"):
        answer = wire.query(bind_server.address, bind_server.port, zone, "NS")
        assert answer.authoritative and answer.record is not None


def test_start_is_idempotent(bind_server: BindServer) -> None:
    pid = (bind_server.state_dir / "named.pid").read_text()
    bind_server.start()
    assert (bind_server.state_dir / "named.pid").read_text() == pid
    assert bind_server.running()


def test_a_second_server_on_a_taken_port_is_a_clear_setup_error(bind_server: BindServer, tmp_path: Path) -> None:
    other = BindServer(tmp_path / "other", port=bind_server.port)
    with pytest.raises(SetupError, match=rf"port 127.0.0.1:{bind_server.port} .* already taken"):
        other.start()
    assert not other.running()


def test_zones_come_and_go(bind_server: BindServer) -> None:
    zone = bind_server.add_zone("adhoc.sandbox.test")
    assert wire.query(bind_server.address, bind_server.port, zone, "NS").authoritative
    assert zone in bind_server.served_zones()
    bind_server.remove_zone(zone)
    assert zone not in bind_server.served_zones()
    assert not list(bind_server.zone_dir.glob(f"{zone}.db*"))
    answer = wire.query(bind_server.address, bind_server.port, zone, "NS")
    assert answer.record is None and answer.rcode == "NXDOMAIN"  # the parent zone sandbox.test answers now


def test_tsig_secret_never_shows(bind_server: BindServer) -> None:
    tsig = bind_server.tsig
    assert tsig.algorithm == "hmac-sha256"
    assert tsig.secret.reveal() not in repr(tsig)
    assert scrub(f"secret is {tsig.secret.reveal()}") == f"secret is {REDACTED}"
    assert oct(bind_server.key_file.stat().st_mode & 0o777) == "0o600"


def test_stop_and_restart_keeps_key_zones_and_records(tmp_path: Path) -> None:
    from dnsrecords.records import Record
    from tests.fixtures.dns import rfc2136_for
    from toolkit.net import free_port

    server = BindServer(tmp_path / "bind", port=free_port(), zones=["keep.test"])
    server.start()
    try:
        secret = server.tsig.secret
        server.add_zone("extra.keep.test")
        rfc2136_for(server, "keep.test").upsert(Record("mail.keep.test", "A", 300, ("192.0.2.7",)))
        assert server.stop()
        assert not server.running()
        server.start()
        assert server.tsig.secret == secret
        assert "extra.keep.test" in server.served_zones()
        assert rfc2136_for(server, "keep.test").get("mail.keep.test", "A") is not None
    finally:
        server.stop()
    assert not server.running()
