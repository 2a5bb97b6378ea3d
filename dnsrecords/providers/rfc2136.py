"""RFC 2136 dynamic update with TSIG (BIND, Knot, PowerDNS): the default provider and the sandbox's.

Reads ask the primary directly (authoritative answers only). Writes replace whole RRsets with the
prerequisite-free ``delete RRset + add`` pair of an UPDATE message, sent over TCP and signed with the TSIG
key; a whole plan goes out as one UPDATE, which the server applies atomically (all or nothing).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdataset
import dns.tsig
import dns.tsigkeyring
import dns.update
from pydantic import ConfigDict, field_validator

from dnsrecords import wire
from dnsrecords.errors import DnsRefusedError, DnsTimeoutError
from dnsrecords.providers.base import Change, DnsProvider
from dnsrecords.records import Record
from toolkit.models import SettingsModel
from toolkit.redact import REDACTOR, Secret

ALGORITHMS = ("hmac-sha256", "hmac-sha512")

_HINTS = {
    "REFUSED": "the server does not allow this update (zone not served there, or allow-update/update-policy "
               "does not grant this key)",
    "NOTAUTH": "the server is not authoritative for the zone, or the TSIG key was not accepted",
    "NOTZONE": "a record name is outside the zone",
}


class Rfc2136Settings(SettingsModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)
    field_names: ClassVar[Mapping[str, str]] = {"algorithm": "tsig_algorithm", "key_secret": "tsig_secret"}

    server: str
    zone: str
    key_name: str
    key_secret: Secret
    algorithm: str = "hmac-sha256"
    port: int = 53
    timeout: float = 10.0

    @field_validator("algorithm")
    @classmethod
    def _algorithm(cls, value: str) -> str:
        if value not in ALGORITHMS:
            raise ValueError(f"{value!r} must be one of {', '.join(ALGORITHMS)}")
        return value

    @field_validator("key_secret", mode="before")
    @classmethod
    def _secret(cls, value: object) -> Secret:
        if not isinstance(value, Secret) or not value:
            raise ValueError("must be a non-empty toolkit.redact.Secret")
        REDACTOR.register(value)
        return value


class Rfc2136Provider(DnsProvider):
    name = "rfc2136"

    def __init__(self, settings: Rfc2136Settings) -> None:
        super().__init__(settings.zone)
        self.settings = settings

    @property
    def where(self) -> str:
        return f"{self.settings.server}:{self.settings.port}"

    def get(self, name: str, rtype: str) -> Record | None:
        return wire.authoritative_record(self.settings.server, self.settings.port, name, rtype,
                                         self.settings.timeout)

    def _replace(self, record: Record, previous: Record | None) -> None:
        self.commit([Change("update", record.name, record.type, record, previous)])

    def _remove(self, previous: Record) -> None:
        self.commit([Change("delete", previous.name, previous.type, None, previous)])

    def commit(self, changes: Sequence[Change]) -> None:
        if not changes:
            return
        update = self._message()
        for change in changes:
            if change.action in ("create", "update") and change.desired is not None:
                record = change.desired
                rdataset = dns.rdataset.from_rdata_list(record.ttl, wire.to_rdatas(record))
                update.replace(wire.absolute(record.name), rdataset)  # delete RRset + add, no prerequisite
            elif change.action == "delete":
                update.delete(wire.absolute(change.name), change.type)
        self._send(update)

    def _message(self) -> dns.update.UpdateMessage:
        s = self.settings
        keyring = dns.tsigkeyring.from_text({s.key_name: s.key_secret.reveal()})
        return dns.update.UpdateMessage(
            wire.absolute(s.zone), keyring=keyring, keyname=dns.name.from_text(s.key_name),
            keyalgorithm=s.algorithm,
        )

    def _send(self, update: dns.update.UpdateMessage) -> None:
        try:
            reply = dns.query.tcp(update, self.settings.server, port=self.settings.port,
                                  timeout=self.settings.timeout)
        except (dns.tsig.PeerBadKey, dns.tsig.PeerBadSignature, dns.tsig.PeerBadTime) as exc:
            raise DnsRefusedError(
                self.where, f"NOTAUTH/{type(exc).__name__}",
                f"the server rejected TSIG key {self.settings.key_name!r} ({exc}); check the key name, "
                "algorithm and secret (and the clock for BADTIME)",
            ) from None
        except (dns.exception.Timeout, OSError) as exc:
            raise DnsTimeoutError(f"{self.where} did not answer the DNS update: {exc}") from exc
        except dns.exception.DNSException as exc:
            raise DnsRefusedError(self.where, type(exc).__name__, str(exc)) from None
        rcode = dns.rcode.to_text(reply.rcode())
        if rcode == "NOERROR":
            return
        if rcode == "SERVFAIL":
            raise DnsTimeoutError(f"{self.where} answered SERVFAIL to the DNS update of {self.zone}")
        raise DnsRefusedError(self.where, rcode, _HINTS.get(rcode, f"update of zone {self.zone} failed"))
