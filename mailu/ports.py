"""The one list of what a tenant VPS serves to the Internet: every other place derives from it.

Derived here and nowhere else:
- Mailu's ``PORTS`` (mailu.env): which listeners Mailu's front enables. Mailu 2024.06 defaults to
  ``25,80,443,465,993,995,4190``, which leaves submission (587) off; ours lists exactly the served ports;
- the ports ``front`` publishes (docker-compose.yml) and the host firewall (ufw) and fail2ban's ban action open;
- the SRV records the DNS layer publishes (``dnsrecords.recordset``): a service is advertised only if it is served.

Changing a port means changing this table; the tests compare every derived place with it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServedPort:
    port: int
    service: str
    """What answers there (Mailu's front proxies each to its backend)."""
    srv: str | None = None
    """The RFC 6186 SRV service label this port is advertised under (``None``: not advertised by SRV)."""
    tls: str = "none"
    """``starttls``, ``implicit`` or ``none`` (plain HTTP redirects to HTTPS)."""


SERVED: tuple[ServedPort, ...] = (
    ServedPort(80, "http (redirect to https, ACME challenges)"),
    ServedPort(443, "https (admin, webmail, MTA-STS policy)", tls="implicit"),
    ServedPort(25, "smtp (inbound mail)", tls="starttls"),
    ServedPort(465, "submissions (implicit TLS)", tls="implicit"),
    ServedPort(587, "submission (STARTTLS)", srv="submission", tls="starttls"),
    ServedPort(993, "imaps", srv="imaps", tls="implicit"),
)

PUBLISHED_PORTS: tuple[int, ...] = tuple(p.port for p in SERVED)
"""What ``front`` publishes, in Mailu's setup order (80, 443, 25, 465, 587, 993)."""
MAIL_PORTS: tuple[int, ...] = tuple(sorted(PUBLISHED_PORTS))
"""What the host firewall opens besides SSH (sorted)."""
MAILU_PORTS_ENV = ",".join(str(port) for port in MAIL_PORTS)
"""Mailu's ``PORTS`` setting: every served port, so Mailu listens exactly where the firewall and DNS say."""
SRV_SERVICES: tuple[tuple[str, int], ...] = tuple((p.srv, p.port) for p in SERVED if p.srv)
"""(SRV service label, port) pairs published as ``_<label>._tcp.<domain>``."""


def served(port: int) -> ServedPort:
    for entry in SERVED:
        if entry.port == port:
            return entry
    raise KeyError(port)
