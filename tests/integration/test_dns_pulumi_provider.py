"""The DnsRecord dynamic provider's CRUD methods against the real BIND (no engine needed)."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from components.dns_records import DnsRecordProvider
from sandbox.bind import BindServer
from tests.fixtures.dns import rfc2136_for
from toolkit.errors import ConfigError


def _props(bind: BindServer, zone: str, values: list[str], ttl: int = 300) -> dict[str, Any]:
    return {
        "provider": "rfc2136",
        "settings": {"server": bind.address, "port": bind.port, "zone": zone, "tsig_key_name": bind.tsig.name},
        "record": {"name": f"mail.{zone}", "type": "A", "ttl": ttl, "values": values},
        "credential": None,
    }


def test_crud_with_the_secret_from_the_environment(bind_server: BindServer, dns_zone: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PM_DNS_TSIG_SECRET", bind_server.tsig.secret.reveal())
    provider = pickle.loads(pickle.dumps(DnsRecordProvider()))  # noqa: S301  (what the engine does with it)
    reader = rfc2136_for(bind_server, dns_zone)
    props = _props(bind_server, dns_zone, ["192.0.2.1"])

    created = provider.create(props)
    assert created.id == f"{dns_zone}/mail.{dns_zone}/A"
    assert created.outs is not None and created.outs["adopted"] is False
    assert reader.get(f"mail.{dns_zone}", "A").values == ("192.0.2.1",)  # type: ignore[union-attr]

    news = _props(bind_server, dns_zone, ["192.0.2.2"])
    assert provider.diff(created.id, created.outs, news).changes
    provider.update(created.id, created.outs, news)
    assert reader.get(f"mail.{dns_zone}", "A").values == ("192.0.2.2",)  # type: ignore[union-attr]

    read = provider.read(created.id, news)
    assert read.id == created.id and read.outs is not None
    assert read.outs["record"]["values"] == ["192.0.2.2"]

    provider.delete(created.id, news)
    assert reader.get(f"mail.{dns_zone}", "A") is None
    assert provider.read(created.id, news).id is None


def test_create_adopts_an_equal_record(bind_server: BindServer, dns_zone: str) -> None:
    props = {**_props(bind_server, dns_zone, ["192.0.2.5"]), "credential": bind_server.tsig.secret.reveal()}
    DnsRecordProvider().create(props)
    again = DnsRecordProvider().create(props)
    assert again.outs is not None and again.outs["adopted"] is True


def test_no_secret_anywhere_is_a_clear_config_error(bind_server: BindServer, dns_zone: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PM_DNS_TSIG_SECRET", raising=False)
    with pytest.raises(ConfigError, match="PM_DNS_TSIG_SECRET"):
        DnsRecordProvider().create(_props(bind_server, dns_zone, ["192.0.2.1"]))
