"""What a Mailu host serves, checked from the operator's side with real protocol clients: a plain function.

``probe_mailu(address, mail_host=..., mta_sts_host=...)`` connects to the VPS's public address (no DNS needed: the
host names are used for SNI, the HTTP Host header and the certificate check) and checks, in parallel:

- SMTP on 25 and submission on 587: banner, EHLO, STARTTLS offered and negotiated, EHLO again; 587 must then offer
  AUTH (smtplib);
- submissions on 465 and IMAPS on 993: implicit TLS; 465 answers EHLO with AUTH, 993 answers CAPABILITY (imaplib);
- HTTPS on 443: front's ``/health`` answers 204 and the admin UI (``admin_path``) answers through front (below 500);
- the MTA-STS policy fetched from ``https://<mta_sts_host>/.well-known/mta-sts.txt`` and parsed as a sender would
  (``mailu.mta_sts``), naming ``mail_host`` in its mx.

TLS: every handshake is first verified with ``tls`` (default: the system's trust store) for the host name. A
certificate that does not verify (self-signed, not yet issued by Let's Encrypt) is reported as untrusted and the
check is repeated without verification, so the protocol itself is still proven; a certificate that does not even
name the host fails the check. ``ProbeReport.ok(require_trusted=True)`` is what a monitoring caller wants.

Used by the installer's ``probes`` step; ``status`` and ``dns.check`` can call it the same way.
"""

from __future__ import annotations

import http.client
import imaplib
import smtplib
import socket
import ssl
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509

from mailu.mta_sts import MtaStsPolicy, parse_policy
from toolkit.errors import ToolkitError

CLIENT_NAME = "probe.pm-mail-infra.invalid"
MTA_STS_PATH = "/.well-known/mta-sts.txt"


class ProbeFailed(ToolkitError):
    """One check got an answer that is not what Mailu gives (or none)."""


@dataclass(frozen=True)
class ProbeResult:
    name: str
    ok: bool
    detail: str
    trusted: bool | None = None
    """The certificate verified for the host name (None: no TLS reached)."""


@dataclass(frozen=True)
class ProbeReport:
    address: str
    results: tuple[ProbeResult, ...]
    policy: MtaStsPolicy | None = None

    def ok(self, *, require_trusted: bool = False) -> bool:
        return all(r.ok and (r.trusted is not False or not require_trusted) for r in self.results)

    def failures(self, *, require_trusted: bool = False) -> list[ProbeResult]:
        return [r for r in self.results if not r.ok or (require_trusted and r.trusted is False)]

    def summary(self) -> str:
        parts = [f"{r.name} {'ok' if r.ok else 'FAILED: ' + r.detail}" + (" (untrusted)" if r.trusted is False else "")
                 for r in self.results]
        return "; ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return {"address": self.address, "ok": self.ok(), "results": [
            {"name": r.name, "ok": r.ok, "detail": r.detail, "trusted": r.trusted} for r in self.results]}


@dataclass
class _Tls:
    """One check's TLS settings: verify first; after a verification failure, retry without and remember why."""

    verified: ssl.SSLContext
    host: str
    untrusted: str | None = None
    names: tuple[str, ...] = field(default=())

    @property
    def context(self) -> ssl.SSLContext:
        if self.untrusted is None:
            return self.verified
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context

    def inspect(self, sock: Any) -> None:
        """Read the presented certificate's names; an untrusted one must still name the host."""
        der = sock.getpeercert(binary_form=True) if sock is not None else None
        if not der:
            raise ProbeFailed("no certificate presented")
        cert = x509.load_der_x509_certificate(der)
        try:
            names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            self.names = tuple(names.get_values_for_type(x509.DNSName))
        except x509.ExtensionNotFound:
            self.names = ()
        if not any(_name_matches(pattern, self.host) for pattern in self.names):
            raise ProbeFailed(f"the certificate names {', '.join(self.names) or 'nothing'}, not {self.host}")


def _name_matches(pattern: str, host: str) -> bool:
    pattern, host = pattern.lower(), host.lower()
    if pattern.startswith("*."):
        return host.count(".") >= 2 and host.split(".", 1)[1] == pattern[2:]
    return pattern == host


class _Smtp(smtplib.SMTP):
    """smtplib connecting to an address while greeting, SNI and certificate checks use the host name."""

    address = ""

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return socket.create_connection((self.address, port), timeout)


class _Smtps(smtplib.SMTP_SSL):
    address = ""

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        sock = socket.create_connection((self.address, port), timeout)
        return self.context.wrap_socket(sock, server_hostname=self._host)  # type: ignore[attr-defined]


class _Imaps(imaplib.IMAP4_SSL):
    address = ""

    def _create_socket(self, timeout: float | None = None) -> socket.socket:
        sock = socket.create_connection((self.address, self.port), timeout)
        wrapped: socket.socket = self.ssl_context.wrap_socket(sock, server_hostname=self.host)
        return wrapped


def _smtp(address: str, port: int, tls: _Tls, timeout: float, *, implicit: bool, want_auth: bool) -> str:
    client: smtplib.SMTP
    if implicit:
        client = type("S", (_Smtps,), {"address": address})(tls.host, port, local_hostname=CLIENT_NAME,
                                                           timeout=timeout, context=tls.context)
    else:
        client = type("S", (_Smtp,), {"address": address})(tls.host, port, local_hostname=CLIENT_NAME,
                                                          timeout=timeout)
    with client:
        code, banner = client.ehlo()
        if code != 250:
            raise ProbeFailed(f"EHLO answered {code}")
        if not implicit:
            if not client.has_extn("starttls"):
                raise ProbeFailed("STARTTLS is not offered")
            client.starttls(context=tls.context)
            code, _ = client.ehlo()
            if code != 250:
                raise ProbeFailed(f"EHLO after STARTTLS answered {code}")
        tls.inspect(client.sock)
        if want_auth and not client.has_extn("auth"):
            raise ProbeFailed("AUTH is not offered after TLS")
        greeting = banner.decode(errors="replace").splitlines()[0] if banner else ""
        return f"EHLO {greeting}" + (", STARTTLS" if not implicit else "") + (", AUTH" if want_auth else "")


def _imaps(address: str, port: int, tls: _Tls, timeout: float) -> str:
    client = type("I", (_Imaps,), {"address": address})(tls.host, port, ssl_context=tls.context, timeout=timeout)
    try:
        tls.inspect(client.sock)
        status, data = client.capability()
        capabilities = (data[0] or b"").decode(errors="replace").split() if data else []
        if status != "OK" or "IMAP4REV1" not in {c.upper() for c in capabilities}:
            raise ProbeFailed(f"CAPABILITY answered {status} {' '.join(capabilities)}")
    finally:
        client.logout()
    return "CAPABILITY " + " ".join(capabilities[:6])


def _https(address: str, tls: _Tls, timeout: float, path: str) -> tuple[int, str, bytes]:
    connection = http.client.HTTPSConnection(tls.host, 443, timeout=timeout, context=tls.context)
    connection._create_connection = (  # type: ignore[attr-defined]
        lambda _target, timeout=timeout, _source=None: socket.create_connection((address, 443), timeout))
    try:
        connection.connect()
        tls.inspect(connection.sock)
        connection.request("GET", path, headers={"User-Agent": "pm-mail-infra probe"})
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read(65_536)
    finally:
        connection.close()


def _run(name: str, host: str, verify: ssl.SSLContext, check: Callable[[_Tls], str]) -> ProbeResult:
    tls = _Tls(verify, host)
    try:
        try:
            detail = check(tls)
        except ssl.SSLCertVerificationError as exc:
            tls.untrusted = exc.verify_message or str(exc)
            detail = check(tls)
    except (ProbeFailed, OSError, smtplib.SMTPException, imaplib.IMAP4.error, http.client.HTTPException,
            ToolkitError) as exc:
        return ProbeResult(name, False, str(exc) or type(exc).__name__, None if not tls.names else
                           tls.untrusted is None)
    if tls.untrusted is not None:
        detail += f"; certificate untrusted: {tls.untrusted}"
    return ProbeResult(name, True, detail, tls.untrusted is None)


def probe_mailu(address: str, *, mail_host: str, mta_sts_host: str | None = None, admin_path: str | None = "/admin",
                tls: ssl.SSLContext | None = None, timeout: float = 5.0) -> ProbeReport:
    """Every check, in parallel, against ``address``; see the module docstring."""
    verify = tls or ssl.create_default_context()
    policy_box: list[MtaStsPolicy] = []

    def health(t: _Tls) -> str:
        status, _, _ = _https(address, t, timeout, "/health")
        if status not in (200, 204):
            raise ProbeFailed(f"GET /health answered {status}")
        return f"GET /health {status}"

    def admin(t: _Tls) -> str:
        status, _, _ = _https(address, t, timeout, admin_path or "/admin")
        if status >= 500:
            raise ProbeFailed(f"GET {admin_path} answered {status} (admin not reachable through front)")
        return f"GET {admin_path} {status}"

    def mta_sts(t: _Tls) -> str:
        status, content_type, body = _https(address, t, timeout, MTA_STS_PATH)
        if status != 200:
            raise ProbeFailed(f"GET {MTA_STS_PATH} answered {status}")
        if not content_type.lower().startswith("text/plain"):
            raise ProbeFailed(f"the policy is served as {content_type or 'no type'}, not text/plain")
        policy = parse_policy(body.decode("utf-8", errors="replace"))
        if not policy.covers(mail_host):
            raise ProbeFailed(f"the policy's mx ({', '.join(policy.mx)}) does not cover {mail_host}")
        policy_box.append(policy)
        return f"mode {policy.mode}, mx {', '.join(policy.mx)}, max_age {policy.max_age}"

    checks: list[tuple[str, str, Callable[[_Tls], str]]] = [
        ("smtp:25", mail_host, lambda t: _smtp(address, 25, t, timeout, implicit=False, want_auth=False)),
        ("submission:587", mail_host, lambda t: _smtp(address, 587, t, timeout, implicit=False, want_auth=True)),
        ("submissions:465", mail_host, lambda t: _smtp(address, 465, t, timeout, implicit=True, want_auth=True)),
        ("imaps:993", mail_host, lambda t: _imaps(address, 993, t, timeout)),
        ("https:443", mail_host, health),
    ]
    if admin_path:
        checks.append((f"admin:443{admin_path}", mail_host, admin))
    if mta_sts_host:
        checks.append(("mta-sts", mta_sts_host, mta_sts))
    with ThreadPoolExecutor(max_workers=len(checks)) as pool:
        futures = [pool.submit(_run, name, host, verify, check) for name, host, check in checks]
        results = tuple(future.result() for future in futures)
    return ProbeReport(address, results, policy_box[0] if policy_box else None)

