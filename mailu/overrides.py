"""Files dropped into Mailu's override directories: here, the MTA-STS policy that front serves.

A published MTA-STS record (``_mta-sts`` TXT + ``mta-sts`` A, ``dnsrecords.recordset``) promises a policy at
``https://mta-sts.<domain>/.well-known/mta-sts.txt``; a sender that enforces MTA-STS and cannot fetch it defers
mail. Mailu 2024.06 does not serve one, but its front includes ``/overrides/*.conf`` inside the main HTTPS server
block (core/nginx/conf/nginx.conf), and ``/overrides`` is ``/mailu/overrides/nginx`` (read-only). So:

- ``/mailu/overrides/nginx/mta-sts.conf``: an exact-match location serving the policy file as ``text/plain``;
- ``/mailu/overrides/nginx/mta-sts.txt``: the policy, the same text the DNS id is derived from
  (``dnsrecords.recordset.mta_sts_policy``);
- ``mta-sts.<domain>`` is in ``HOSTNAMES`` (``MailuConfig.certificate_hostnames``), so Mailu's certbot puts it on
  the certificate, and its A record points at the VPS, so the HTTP-01 challenge reaches front.

nginx reads the ``.conf`` when front starts (a change recreates front); the policy file is read per request.
With ``mta_sts_mode: none`` neither file exists and nothing is published.
"""

from __future__ import annotations

from dnsrecords.recordset import mta_sts_policy
from hostops.files import DesiredFile
from mailu.config import INSTALL_ROOT, MailuConfig

NGINX_OVERRIDES = f"{INSTALL_ROOT}/overrides/nginx"
MTA_STS_CONF = f"{NGINX_OVERRIDES}/mta-sts.conf"
MTA_STS_POLICY = f"{NGINX_OVERRIDES}/mta-sts.txt"
MTA_STS_PATH = "/.well-known/mta-sts.txt"
FRONT_RESTART_PATHS = frozenset({MTA_STS_CONF})
"""Override files front reads only at start: a change recreates front."""


def mta_sts_conf() -> str:
    return (
        "# Managed by pm-mail-infra: the MTA-STS policy (RFC 8461), included by Mailu's front in its HTTPS server.\n"
        f"location = {MTA_STS_PATH} {{\n"
        "    default_type text/plain;\n"
        "    add_header Cache-Control \"max-age=300\";\n"
        "    alias /overrides/mta-sts.txt;\n"
        "}\n"
    )


def front_override_files(config: MailuConfig) -> list[DesiredFile]:
    """The override files front needs for ``config`` (none when no MTA-STS policy is served)."""
    if config.mta_sts_host is None:
        return []
    policy = mta_sts_policy(config.domain, config.mta_sts_mode)
    return [DesiredFile(MTA_STS_CONF, mta_sts_conf().encode(), 0o644),
            DesiredFile(MTA_STS_POLICY, policy.encode(), 0o644)]


def stale_override_paths(config: MailuConfig) -> list[str]:
    """Override files this module manages that ``config`` no longer wants (removed by the installer)."""
    wanted = {f.path for f in front_override_files(config)}
    return [path for path in (MTA_STS_CONF, MTA_STS_POLICY) if path not in wanted]
