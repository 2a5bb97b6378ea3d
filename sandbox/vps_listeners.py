#!/usr/bin/python3
"""Stand-in for Mailu's front on a simulated VPS: real listeners on the ports front publishes.

Started by the ``docker compose up`` stand-in (``vps_standin.py``) inside the VPS's namespaces, with a config it
derives from the rendered compose file and mailu.env; runs until the VPS host stops (its pid namespace ends).
What it serves follows what Mailu's front would, from the same inputs:
- only the ports ``PORTS`` enables (25 always, as Mailu's nginx does), on the published address;
- SMTP on 25 (STARTTLS, no AUTH), submission on 587 (STARTTLS, AUTH after TLS) and submissions on 465 (implicit
  TLS, AUTH): aiosmtpd, a real SMTP server library; every recipient is refused (no mail is accepted here);
- IMAPS on 993: greeting, CAPABILITY, NOOP, LOGOUT (every login is refused);
- HTTP on 80 (redirect, ``/health``) and HTTPS on 443: ``/health`` 204, the admin path 302 to its login page, and
  the ``location = <path> { alias /overrides/<file>; }`` blocks of ``/mailu/overrides/nginx/*.conf``, read at start
  like nginx reads its includes;
- the certificate: self-signed, generated when missing, naming every entry of ``HOSTNAMES`` (what Mailu's certbot
  asks Let's Encrypt for).

Runs under the VPS's system python3 with the standard library, the system's ``cryptography`` and aiosmtpd (copied
next to this file by ``sandbox.vps_host``); it imports no project code.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import os
import re
import select
import signal
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

OVERRIDES = Path("/mailu/overrides/nginx")
LISTENER_DIR = Path("/var/lib/pm-standins/listeners")
SITE = Path(__file__).resolve().parent / "site"
"""aiosmtpd and its dependencies, copied from the toolkit's venv by ``sandbox.vps_host``."""
# What Mailu's front serves on each port it can publish (the rest of Mailu's ports are not simulated).
FRONT_PORTS = {25: "smtp", 80: "http", 443: "https", 465: "submissions", 587: "submission", 993: "imaps"}
MAILU_DEFAULT_PORTS = "25,80,443,465,993,995,4190"
TLS_PORTS = {443, 465, 993}
_LOCATION = re.compile(r"location\s*=\s*(\S+)\s*\{(.*?)\}", re.S)


def publishers(document: dict[str, Any], service: str) -> list[dict[str, Any]]:
    spec = (document.get("services") or {}).get(service) or {}
    out = []
    for entry in spec.get("ports") or []:
        parts = str(entry).rsplit(":", 2)
        if len(parts) == 3:
            out.append({"URL": parts[0].strip("[]"), "TargetPort": int(parts[2]), "PublishedPort": int(parts[1]),
                        "Protocol": "tcp"})
    return out


def read_env(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value
    return values


def front_config(compose_file: Path, document: dict[str, Any]) -> dict[str, Any] | str | None:
    """What Mailu's front would listen on, from the compose file and its env file (or why it cannot start; None
    when it publishes nothing)."""
    front = (document.get("services") or {}).get("front")
    if not isinstance(front, dict):
        return "no front service"
    env_file = front.get("env_file")
    env = read_env(compose_file.parent / str(env_file)) if isinstance(env_file, str) else {}
    enabled = {int(p) for p in env.get("PORTS", MAILU_DEFAULT_PORTS).split(",") if p.strip().isdigit()} | {25}
    if env.get("TLS_FLAVOR") == "notls":
        enabled -= TLS_PORTS
    ports: dict[str, str] = {}
    addresses = set()
    for pub in publishers(document, "front"):
        addresses.add(pub["URL"])
        if pub["TargetPort"] in FRONT_PORTS and pub["TargetPort"] in enabled:
            ports[str(pub["PublishedPort"])] = FRONT_PORTS[pub["TargetPort"]]
    if not addresses:
        return None
    if len(addresses) != 1 or addresses & {"", "0.0.0.0", "::"}:  # noqa: S104 - refused, never bound
        return f"the sandbox publishes on one VPS address, not on {sorted(addresses) or 'none'}"
    certs = next((str(v).split(":")[0] for v in front.get("volumes") or [] if str(v).split(":")[1:2] == ["/certs"]),
                 "/mailu/certs")
    hostnames = [h.strip() for h in env.get("HOSTNAMES", "").split(",") if h.strip()] or ["mail.invalid"]
    admin = env.get("WEB_ADMIN", "/admin") if env.get("ADMIN", "false").lower() == "true" else None
    return {"address": addresses.pop(), "ports": ports, "hostnames": hostnames, "admin_path": admin,
            "cert": f"{certs}/standin-selfsigned/cert.pem", "key": f"{certs}/standin-selfsigned/key.pem"}


def _pid_file(project: str) -> Path:
    return LISTENER_DIR / f"{project}.pid"


def alive(project: str) -> bool:
    try:
        pid = int(_pid_file(project).read_text())
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, ValueError, IndexError):
        return False
    return state != "Z"


def stop_front(project: str) -> None:
    try:
        pid = int(_pid_file(project).read_text())
    except (OSError, ValueError):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    while alive(project):  # gone within microseconds; its sockets close as it exits
        select.select([], [], [], 0.01)
    _pid_file(project).unlink(missing_ok=True)


def start_front(project: str, compose_file: Path, document: dict[str, Any]) -> str | None:
    """(Re)start the listeners as a process of their own; returns a problem text if they could not bind."""
    config = front_config(compose_file, document)
    if isinstance(config, str):
        return config
    stop_front(project)
    if config is None:
        return None
    LISTENER_DIR.mkdir(parents=True, exist_ok=True)
    config_path = LISTENER_DIR / f"{project}.json"
    config_path.write_text(json.dumps(config, indent=1))
    log = (LISTENER_DIR / f"{project}.log").open("ab")
    read_end, write_end = os.pipe()
    process = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), str(config_path), str(write_end)],
                               pass_fds=(write_end,), start_new_session=True, stdin=subprocess.DEVNULL,
                               stdout=log, stderr=log, cwd="/")
    os.close(write_end)
    ready, _, _ = select.select([read_end], [], [], 30.0)
    answer = os.read(read_end, 64) if ready else b""
    os.close(read_end)
    if answer != b"ready\n":
        process.kill()
        tail = (LISTENER_DIR / f"{project}.log").read_text(errors="replace").strip().splitlines()[-1:]
        return "listeners did not start: " + (tail[0] if tail else "no output")
    _pid_file(project).write_text(f"{process.pid}\n")
    return None


# --- the listeners process --------------------------------------------------------------------------------


def ensure_certificate(cert: Path, key: Path, hostnames: list[str]) -> None:
    """A self-signed certificate for ``hostnames``; made again when the names change (certbot --expand)."""
    names_file = cert.with_suffix(".names")
    if cert.exists() and key.exists() and names_file.exists() and names_file.read_text().split() == hostnames:
        return
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    private = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0])])
    now = datetime.datetime.now(datetime.timezone.utc)  # noqa: UP017 - runs on the VPS's python3
    certificate = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(private.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=90))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in hostnames]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(private, hashes.SHA256())
    )
    cert.parent.mkdir(parents=True, exist_ok=True)
    key.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    key.chmod(0o600)
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    names_file.write_text(" ".join(hostnames) + "\n")


def override_routes() -> dict[str, tuple[Path, str]]:
    """path -> (file, content type) from the ``alias`` locations of front's override includes."""
    routes: dict[str, tuple[Path, str]] = {}
    for conf in sorted(OVERRIDES.glob("*.conf")):
        for path, body in _LOCATION.findall(conf.read_text(errors="replace")):
            alias = re.search(r"alias\s+/overrides/([^;\s]+);", body)
            kind = re.search(r"default_type\s+([^;\s]+);", body)
            if alias:
                routes[path] = (OVERRIDES / alias.group(1), kind.group(1) if kind else "application/octet-stream")
    return routes


class Refuse:
    """aiosmtpd handler: no mail is accepted by the stand-in."""

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        return "550 5.7.1 the sandbox stand-in accepts no mail"


IMAP_CAPS = "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ AUTH=PLAIN AUTH=LOGIN"


async def imap_session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(f"* OK [CAPABILITY {IMAP_CAPS}] Mailu stand-in ready\r\n".encode())
    while True:
        line = (await reader.readline()).decode(errors="replace").strip()
        if not line:
            break
        tag, _, rest = line.partition(" ")
        command = rest.split(" ", 1)[0].upper()
        if command == "CAPABILITY":
            writer.write(f"* CAPABILITY {IMAP_CAPS}\r\n{tag} OK Capability completed.\r\n".encode())
        elif command == "NOOP":
            writer.write(f"{tag} OK NOOP completed.\r\n".encode())
        elif command == "LOGOUT":
            writer.write(f"* BYE Logging out\r\n{tag} OK Logout completed.\r\n".encode())
            break
        elif command in ("LOGIN", "AUTHENTICATE"):
            writer.write(f"{tag} NO [AUTHENTICATIONFAILED] the sandbox stand-in has no mailboxes\r\n".encode())
        else:
            writer.write(f"{tag} BAD {command} is not served by the stand-in\r\n".encode())
        await writer.drain()
    await writer.drain()
    writer.close()


def http_handler(config: dict[str, Any], tls: bool) -> Any:
    routes = override_routes() if tls else {}

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = (await reader.readline()).decode(errors="replace").split()
        while (await reader.readline()).strip():
            pass
        path = request[1].split("?", 1)[0] if len(request) > 1 else "/"
        status, headers, body = 404, {"Content-Type": "text/plain"}, b"not found\n"
        admin = config.get("admin_path")
        if path == "/health":
            status, body = 204, b""
        elif not tls:
            status, headers, body = 301, {"Location": f"https://{config['hostnames'][0]}{path}"}, b""
        elif path in routes and routes[path][0].is_file():
            status, headers, body = 200, {"Content-Type": routes[path][1]}, routes[path][0].read_bytes()
        elif admin and (path == admin or path.startswith(admin + "/")):
            status, headers, body = 302, {"Location": "/sso/login"}, b""
        reason = {200: "OK", 204: "No Content", 301: "Moved Permanently", 302: "Found", 404: "Not Found"}[status]
        head = [f"HTTP/1.1 {status} {reason}", "Server: mailu-front-standin", f"Content-Length: {len(body)}",
                "Connection: close", *(f"{k}: {v}" for k, v in headers.items())]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        await writer.drain()
        writer.close()

    return session


async def serve(config: dict[str, Any]) -> None:
    sys.path.insert(0, str(SITE))
    from aiosmtpd.smtp import SMTP, AuthResult  # type: ignore[import-not-found,unused-ignore]

    def deny(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        return AuthResult(success=False, handled=False)

    cert, key = Path(config["cert"]), Path(config["key"])
    ensure_certificate(cert, key, config["hostnames"])
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    loop = asyncio.get_running_loop()
    host, name = config["address"], config["hostnames"][0]
    servers = []
    for port_text, kind in sorted(config["ports"].items()):
        port = int(port_text)
        if kind == "smtp":
            servers.append(await loop.create_server(
                lambda: SMTP(Refuse(), hostname=name, ident="Mailu stand-in", tls_context=context), host, port))
        elif kind == "submission":
            servers.append(await loop.create_server(
                lambda: SMTP(Refuse(), hostname=name, ident="Mailu stand-in", tls_context=context,
                             authenticator=deny, auth_require_tls=True), host, port))
        elif kind == "submissions":
            servers.append(await loop.create_server(
                lambda: SMTP(Refuse(), hostname=name, ident="Mailu stand-in", authenticator=deny,
                             auth_require_tls=False), host, port, ssl=context))
        elif kind == "imaps":
            servers.append(await asyncio.start_server(imap_session, host, port, ssl=context))
        elif kind == "https":
            servers.append(await asyncio.start_server(http_handler(config, True), host, port, ssl=context))
        elif kind == "http":
            servers.append(await asyncio.start_server(http_handler(config, False), host, port))
    ready = config.get("ready_fd")
    if ready is not None:
        os.write(int(ready), b"ready\n")
        os.close(int(ready))
    await asyncio.gather(*(server.serve_forever() for server in servers))


def main(argv: list[str]) -> int:
    config = json.loads(Path(argv[1]).read_text())
    if len(argv) > 2:
        config["ready_fd"] = int(argv[2])
    asyncio.run(serve(config))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
