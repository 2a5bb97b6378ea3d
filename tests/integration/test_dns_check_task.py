"""`invoke dns.check` against the real BIND: a clean domain passes, a broken one exits 1 with a report."""

from __future__ import annotations

from pathlib import Path

import pytest
from invoke import Context
from invoke.exceptions import Exit

from dnsrecords.providers.rfc2136 import Rfc2136Provider
from dnsrecords.records import Record
from dnsrecords.recordset import MailDomainInputs, build_record_set
from sandbox.bind import BindServer
from tasks_lib import dns as dns_tasks
from tasks_lib.dns import check
from tests.fixtures.dns import DkimKey


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dns_tasks.console, "width", 400)


def _publish(provider: Rfc2136Provider, zone: str, key: DkimKey) -> None:
    provider.apply(build_record_set(MailDomainInputs(zone, "192.0.2.10", "pm20261124", key.public_b64)))


def test_clean_domain_passes_with_the_dkim_proof(bind_server: BindServer, rfc2136: Rfc2136Provider, dns_zone: str,
                                                dkim_key: DkimKey, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    _publish(rfc2136, dns_zone, dkim_key)
    key_file = tmp_path / "dkim.pem"
    key_file.write_bytes(dkim_key.private_pem)
    check(Context(), tenant="t1", domain=dns_zone, ip="192.0.2.10", selector="pm20261124",
          server=f"{bind_server.address}:{bind_server.port}", dkim_key_file=str(key_file))
    out = capsys.readouterr().out
    assert "all records present and equal" in out
    assert "signature verifies" in out


def test_missing_and_wrong_records_exit_1(bind_server: BindServer, rfc2136: Rfc2136Provider, dns_zone: str,
                                          dkim_key: DkimKey, capsys: pytest.CaptureFixture[str]) -> None:
    _publish(rfc2136, dns_zone, dkim_key)
    rfc2136.upsert(Record(f"mail.{dns_zone}", "A", 3600, ("192.0.2.99",)))
    rfc2136.delete(Record(f"_imaps._tcp.{dns_zone}", "SRV", 3600, (f"0 1 993 mail.{dns_zone}",)))
    with pytest.raises(Exit) as caught:
        check(Context(), domain=dns_zone, ip="192.0.2.10", selector="pm20261124",
              server=f"{bind_server.address}:{bind_server.port}")
    assert caught.value.code == 1
    out = capsys.readouterr().out
    assert "missing" in out and "wrong" in out and "192.0.2.99" in out


def test_bad_input_is_exit_2_with_the_reason(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(Exit) as caught:
        check(Context(), domain="bücher.example", ip="192.0.2.10", selector="s", server="127.0.0.1:1")
    assert caught.value.code == 2
    assert "punycode" in capsys.readouterr().out
