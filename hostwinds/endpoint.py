"""Where the Hostwinds API key may be sent: the one check every caller runs before a request carries the key.

Every call POSTs the API key in its body, so the endpoint URL decides who receives the key. The URL is parsed
(``urllib.parse``, ``ipaddress``), never prefix-matched, and accepted only when:

- the scheme is ``https`` (plain ``http`` only towards a loopback address, i.e. the local simulator);
- it carries no user info (``user@host``: a classic way to make a URL read like one host and reach another),
  no query or fragment, and only plain printable ASCII (no spaces, backslashes or percent-escapes, on which
  URL parsers disagree);
- the host is loopback (``localhost``, 127.0.0.0/8, ``::1``; written canonically) or one of the allowed API
  hosts: ``clients.hostwinds.com`` (the contract's endpoint) plus the comma-separated host names in
  ``PM_HOSTWINDS_API_HOSTS`` (an operator setting, e.g. for a proxy). Matching is exact: no suffixes, no
  wildcards, no trailing dot.

Used by ``ClientSettings`` (so every client, including the Pulumi providers' and the status task's), by the
transport itself, and by the tenant config validation of ``hostwinds.api_url``.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Iterable, Mapping
from urllib.parse import SplitResult, urlsplit

from toolkit.errors import ConfigError

API_HOST = "clients.hostwinds.com"
DEFAULT_URL = f"https://{API_HOST}/cloud/api.php"
ENV_API_HOSTS = "PM_HOSTWINDS_API_HOSTS"

_PLAIN_ASCII = re.compile(r"^[\x21-\x7e]+$")
_HOST_NAME = re.compile(r"^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")


def allowed_hosts(env: Mapping[str, str] | None = None) -> frozenset[str]:
    """The non-loopback hosts the key may go to: the contract's API host plus ``PM_HOSTWINDS_API_HOSTS``."""
    source = os.environ if env is None else env
    extra = [item.strip().lower() for item in source.get(ENV_API_HOSTS, "").split(",") if item.strip()]
    bad = [item for item in extra if not _HOST_NAME.match(item)]
    if bad:
        raise ConfigError(ENV_API_HOSTS, f"{', '.join(repr(b) for b in bad)} must be plain host names "
                                         "(comma-separated, no scheme, port, path or wildcard)")
    return frozenset({API_HOST, *extra})


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name, or a non-canonical address form (127.1, 0x7f.0.0.1, 2130706433): not trusted


def _shown(parts: SplitResult) -> str:
    """The URL for messages, without user info, query or fragment (they may carry credentials)."""
    host = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{host}{parts.path}"


def check_api_url(url: object, field: str = "url", *, extra_hosts: Iterable[str] | None = None) -> str:
    """``url`` if the API key may be sent there, else ``ConfigError(field, ...)`` saying why.

    ``extra_hosts`` replaces ``PM_HOSTWINDS_API_HOSTS`` (for callers that hold their own environment)."""
    if not isinstance(url, str) or not url:
        raise ConfigError(field, "must be the Hostwinds API URL (e.g. " + DEFAULT_URL + ")")
    if not _PLAIN_ASCII.match(url) or "\\" in url or "%" in url:
        raise ConfigError(field, "must be plain printable ASCII without spaces, backslashes or %-escapes")
    try:
        parts = urlsplit(url)
    except ValueError:
        raise ConfigError(field, "is not a parseable URL") from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http") or not url.lower().startswith(f"{scheme}://"):
        raise ConfigError(field, f"{_shown(parts)!r} must be an http(s):// URL (https:// for the API, http:// only "
                                 "for a loopback simulator)")
    if "@" in parts.netloc:
        raise ConfigError(field, f"{_shown(parts)!r} must not carry user info (user@host): the API key would go "
                                 "to the host after the '@'")
    if parts.query or parts.fragment or "?" in url or "#" in url:
        raise ConfigError(field, f"{_shown(parts)!r} must not have a query or fragment")
    try:
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number in range
    except ValueError:
        raise ConfigError(field, f"{_shown(parts)!r} has an invalid port") from None
    host = (parts.hostname or "").lower()
    if not host:
        raise ConfigError(field, f"{_shown(parts)!r} has no host")
    if _loopback(host):
        return url
    allowed = allowed_hosts() if extra_hosts is None else frozenset({API_HOST, *(h.lower() for h in extra_hosts)})
    if host not in allowed:
        raise ConfigError(field, f"host {host!r} is not an allowed Hostwinds API host ({', '.join(sorted(allowed))};"
                                 f" add hosts with {ENV_API_HOSTS}) and not loopback")
    if scheme != "https":
        raise ConfigError(field, f"{_shown(parts)!r} must be https (plain http only for a loopback simulator)")
    return url
