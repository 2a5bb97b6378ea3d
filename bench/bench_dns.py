"""Benchmark: publish a tenant's full mail record set to the real BIND over RFC 2136 and verify it
(every record, SPF/DMARC, FCrDNS from the reverse zone, DKIM sign+verify). Median of 5 runs, each on a
fresh zone. Prints numbers; asserts nothing about time.

    .venv/bin/python bench/bench_dns.py
"""

from __future__ import annotations

import base64
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from dnsrecords import verify
from dnsrecords.providers.rfc2136 import Rfc2136Provider, Rfc2136Settings
from dnsrecords.records import Record
from dnsrecords.recordset import MailDomainInputs, build_record_set
from sandbox.bind import BindServer
from toolkit.net import free_port

RUNS = 5
REVERSE = "2.0.192.in-addr.arpa"


def _provider(server: BindServer, zone: str) -> Rfc2136Provider:
    tsig = server.tsig
    return Rfc2136Provider(Rfc2136Settings(server=server.address, zone=zone, key_name=tsig.name, key_secret=tsig.secret,
                                           port=server.port))


def main() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    public = base64.b64encode(key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()
    with tempfile.TemporaryDirectory() as tmp:
        server = BindServer(Path(tmp), port=free_port(), zones=["sandbox.test", REVERSE])
        started = time.perf_counter()
        server.start()
        start_s = time.perf_counter() - started
        servers = [(server.address, server.port)]
        publish, again, check, total = [], [], [], []
        try:
            for run in range(RUNS):
                zone = server.add_zone(f"bench{run}.sandbox.test")
                records = build_record_set(MailDomainInputs(zone, "192.0.2.10", "pm20261124", public))
                provider = _provider(server, zone)
                _provider(server, REVERSE).upsert(Record("10.2.0.192.in-addr.arpa", "PTR", 300, (f"mail.{zone}",)))
                t0 = time.perf_counter()
                report = provider.apply(records)
                t1 = time.perf_counter()
                result = verify.verify_mail_domain(
                    records, servers, domain=zone, mail_ip="192.0.2.10",
                    ptr_lookup=verify.dns_ptr_lookup(servers), dkim_selector="pm20261124", dkim_private_key=pem)
                t2 = time.perf_counter()
                unchanged = provider.apply(records)
                t3 = time.perf_counter()
                if report.changed is False or not result.ok or unchanged.changed:
                    raise SystemExit(f"run {run}: publish/verify did not succeed: {result.problems}")
                publish.append(t1 - t0)
                check.append(t2 - t1)
                total.append(t2 - t0)
                again.append(t3 - t2)
                server.remove_zone(zone)
        finally:
            server.stop()
    ms = lambda values: f"{statistics.median(values) * 1000:8.1f} ms"  # noqa: E731
    print(f"BIND start (cold)                          {start_s * 1000:8.1f} ms")
    print(f"records per set                            {len(records):8d}")
    print(f"publish full set (RFC 2136, median of {RUNS})    {ms(publish)}")
    print(f"verify full set incl. DKIM + FCrDNS        {ms(check)}")
    print(f"publish + verify (median of {RUNS})              {ms(total)}")
    print(f"re-apply, nothing to change                {ms(again)}")


if __name__ == "__main__":
    main()
