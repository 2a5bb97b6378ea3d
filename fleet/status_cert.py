"""The TLS certificate column of `invoke status`: the certificate the mail host serves (else the file on the VPS,
``fleet.status_sources``), its expiry graded.

More than 30 days left ok, <= 30 warning, <= 7 and <= 1 critical (the crossed threshold is reported), expired
critical; a certificate that does not name the mail host is a warning; no certificate at all is unknown.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.x509.oid import NameOID

from fleet.status_model import Cell, Severity, StatusError, days
from toolkit.clock import iso

CERT_PATH = "/mailu/certs/cert.pem"
CERT_THRESHOLDS_DAYS: tuple[int, ...] = (30, 7, 1)


@dataclass(frozen=True)
class CertificateInfo:
    not_after: datetime
    subject: str
    names: tuple[str, ...]


def parse_certificate(pem: bytes) -> CertificateInfo:
    """Expiry, subject CN and DNS names of the first certificate of a PEM file (a chain starts with the leaf)."""
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError as exc:
        raise StatusError(f"not a PEM certificate: {exc}") from None
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    subject = str(cns[0].value) if cns else cert.subject.rfc4514_string()
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = tuple(str(n) for n in san.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        names = (subject,) if cns else ()
    return CertificateInfo(cert.not_valid_after_utc, subject, names)


def covers(names: Iterable[str], host: str) -> bool:
    """Whether one of ``names`` (exact, or a one-label ``*.`` wildcard) names ``host``."""
    host = host.lower().rstrip(".")
    for name in (n.lower().rstrip(".") for n in names):
        if name == host or (name.startswith("*.") and host.partition(".")[2] == name[2:]):
            return True
    return False


def certificate_cell(info: CertificateInfo | None, now: datetime, *, host: str, path: str = CERT_PATH) -> Cell:
    if info is None:
        return Cell(Severity.UNKNOWN, "no certificate", {"path": path})
    left = info.not_after - now
    crossed = [d for d in CERT_THRESHOLDS_DAYS if left <= timedelta(days=d)]
    threshold = min(crossed) if crossed else None
    details = {"path": path, "not_after": iso(info.not_after), "days_left": days(left), "subject": info.subject,
               "names": list(info.names), "threshold_days": threshold, "covers_host": covers(info.names, host)}
    if left <= timedelta(0):
        return Cell(Severity.CRITICAL, f"expired {iso(info.not_after)}", details)
    text = f"{days(left):.0f} d left" if left >= timedelta(days=1) else f"{left.total_seconds() / 3600:.0f} h left"
    if threshold is not None:
        severity = Severity.WARNING if threshold == CERT_THRESHOLDS_DAYS[0] else Severity.CRITICAL
        return Cell(severity, f"{text} (< {threshold} d)", details)
    if not details["covers_host"]:
        return Cell(Severity.WARNING, f"{text}; does not name {host}", details)
    return Cell(Severity.OK, text, details)
