"""IPv4 only, for every call that carries the API key: keys are bound to an IPv4 allow-list.

A Hostwinds API key is bound to allow-listed IPv4 source addresses; a call that leaves over IPv6 (the default on a
dual-stack host whose resolver returns an AAAA record first) is answered ``Not Authorized!`` [seen]. The transport
therefore resolves the API host for IPv4 only and connects over IPv4 (``IPv4Adapter``, a ``requests`` adapter
whose connection pools open sockets with ``AF_INET``), so no call can leave over IPv6, whatever the resolver says.

``egress_note`` explains an authorization failure: which IPv4 source address the call left from and whether the
machine also has IPv6 (the common mistake is allow-listing that address). It sends nothing: the source addresses
come from ``connect()`` on a UDP socket, which only asks the kernel for a route.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.poolmanager import PoolManager
from urllib3.util.timeout import _DEFAULT_TIMEOUT

from toolkit.errors import ConfigError

# A public IPv6 address (Cloudflare's resolver) only used to ask the kernel for a route: no packet is sent.
_IPV6_PROBE = "2606:4700:4700::1111"


def _ipv4_socket(host: str, port: int, timeout: Any, source_address: tuple[str, int] | None,
                 socket_options: Any) -> socket.socket:
    """Connect to ``host:port`` over IPv4 only (``getaddrinfo`` asked for ``AF_INET`` records)."""
    error: OSError | None = None
    for family, kind, proto, _name, address in socket.getaddrinfo(host.strip("[]"), port, socket.AF_INET,
                                                                   socket.SOCK_STREAM):
        sock = socket.socket(family, kind, proto)
        try:
            for option in socket_options or ():
                sock.setsockopt(*option)
            if timeout is not _DEFAULT_TIMEOUT:
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(address)
            return sock
        except OSError as exc:
            error = exc
            sock.close()
    raise error or OSError(f"{host} has no IPv4 address (Hostwinds API calls leave over IPv4 only)")


def _connect(conn: HTTPConnection) -> socket.socket:
    """``HTTPConnection._new_conn`` over IPv4, with urllib3's own error mapping."""
    try:
        return _ipv4_socket(conn._dns_host, conn.port, conn.timeout, conn.source_address, conn.socket_options)
    except socket.gaierror as exc:
        raise NameResolutionError(conn.host, conn, exc) from exc
    except TimeoutError as exc:
        raise ConnectTimeoutError(conn, f"Connection to {conn.host} timed out "
                                        f"(connect timeout={conn.timeout})") from exc
    except OSError as exc:
        raise NewConnectionError(conn, f"Failed to establish a new IPv4 connection: {exc}") from exc


class _IPv4Connection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        return _connect(self)


class _IPv4HttpsConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        return _connect(self)


class _IPv4Pool(HTTPConnectionPool):
    ConnectionCls = _IPv4Connection


class _IPv4HttpsPool(HTTPSConnectionPool):
    ConnectionCls = _IPv4HttpsConnection


IPV4_POOLS: dict[str, type[HTTPConnectionPool]] = {"http": _IPv4Pool, "https": _IPv4HttpsPool}


class IPv4Adapter(HTTPAdapter):
    """A ``requests`` adapter whose connections (direct or to a proxy) are opened over IPv4 only."""

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = IPV4_POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> PoolManager:
        manager: PoolManager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = IPV4_POOLS
        return manager


def require_ipv4_reachable(url: str, field: str = "url") -> None:
    """Refuse an API URL whose host is an IPv6 address literal: it can never be reached over IPv4."""
    host = (urlsplit(url).hostname or "").strip("[]")
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        return
    if literal.version == 6:
        raise ConfigError(field, f"{host} is an IPv6 address: Hostwinds API keys are bound to IPv4 addresses, so "
                                 "the toolkit calls the API over IPv4 only; use an IPv4 address or a host name")


def source_address(family: socket.AddressFamily, target: str, port: int = 443) -> str | None:
    """The local address the kernel would send from to ``target`` (None without a route). Sends nothing."""
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect((target, port))
            return str(probe.getsockname()[0])
    except OSError:
        return None


def global_ipv6_source() -> str | None:
    """This machine's IPv6 source address towards the internet, if it has one (not loopback or link-local)."""
    found = source_address(socket.AF_INET6, _IPV6_PROBE)
    if found is None:
        return None
    address = ipaddress.ip_address(found.split("%", 1)[0])
    return None if address.is_loopback or address.is_link_local else str(address)


def ipv4_source(url: str) -> str | None:
    """The IPv4 source address API calls to ``url`` leave from (None if its host has no IPv4 address)."""
    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, 443, socket.AF_INET, socket.SOCK_DGRAM)
    except OSError:
        return None
    return source_address(socket.AF_INET, str(infos[0][4][0])) if infos else None


def egress_note(url: str, *, ipv4: str | None = None, ipv6: str | None = None, probe: bool = True) -> str:
    """One sentence for an authorization failure: calls leave over IPv4 (from where), and whether this machine
    is dual-stack (then the IPv6 address is the one not to allow-list). ``ipv4``/``ipv6`` override detection."""
    if probe:
        ipv4 = ipv4 or ipv4_source(url)
        ipv6 = ipv6 or global_ipv6_source()
    origin = f" from {ipv4}" if ipv4 else ""
    if ipv6:
        return (f"API calls leave over IPv4 only{origin}; this machine is dual-stack (IPv6 {ipv6}): the key must be "
                "allow-listed for the public IPv4 address the API sees (behind NAT it differs from the local one), "
                "not the IPv6 one; also check that the key has not expired")
    return (f"API calls leave over IPv4 only{origin}: check that the key is allow-listed for this machine's public "
            "IPv4 address and has not expired")
