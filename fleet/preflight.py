"""What a tenant stack must pass before the program registers its first resource (plain Python, no Pulumi).

``__main__.py`` validates the stack config (``toolkit.tenant_config``), then calls :func:`run`, which checks, all at
once and writing nothing:

- the stack is named after its tenant id (one tenant = one stack);
- the credentials the providers will read from the environment are there (Hostwinds key, DNS secret, Vault);
- the image, location and size (or plan) each name exactly one thing the Hostwinds account offers
  (``get_public_images``, ``get_locations``, ``get_price_list`` for unmanaged plans; ``hostwinds.catalog``), with
  the valid values listed when not,
  and the image is one the Mailu installer supports (Debian 12, Ubuntu 22.04/24.04: ``mailu.docker_apt``), judged
  by its Hostwinds name, since the live API's ids are UUIDs;
- nobody else owns the tenant id or the domain (``vault.claims``): another stack holds the tenant id, or another
  tenant holds the domain, a parent or a sub-domain of it.

Any problem raises one :class:`PreflightError` naming each key and its fix, and nothing exists afterwards (no Vault
secret, no Hostwinds key or VPS, no DNS record, no claim). On ``pulumi preview`` that is all; on ``pulumi up`` the
claims are then taken with check-and-set (tenant id first, then the domain), so a racing stack loses cleanly.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from dnsrecords.providers.registry import SECRET_ENV
from hostwinds.catalog import OfferNotFound
from hostwinds.client import HostwindsClient
from hostwinds.settings import ENV_API_KEY, ClientSettings
from mailu.docker_apt import image_problem
from toolkit.errors import ToolkitError
from toolkit.tenant_config import CONFIG_NAMESPACE, TenantConfig, TenantConfigError, check_stack_name, size_minimums
from vault import claims
from vault.client import VaultClient

Problem = tuple[str, str]
T = TypeVar("T")


class PreflightError(ToolkitError):
    """The stack may not run: ``problems`` lists each (key, what is wrong and how to fix it)."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {key}: {text}" for key, text in problems)
        super().__init__(f"preflight refused the stack ({len(problems)} problem(s)):\n{lines}")


@dataclass(frozen=True)
class StackRef:
    """Which stack is running: its fully qualified name and the state backend it lives in."""

    organization: str
    project: str
    stack: str
    backend: str = ""
    """The state backend URL (``PULUMI_BACKEND_URL`` or the ``pulumi login`` one); "" when unknown."""

    @property
    def name(self) -> str:
        return f"{self.organization}/{self.project}/{self.stack}"

    @property
    def identity(self) -> str:
        """What a tenant-id claim records: the stack's name and a digest of its backend (a URL may hold
        credentials, so only its digest is kept). Same stack -> same identity; a copy elsewhere -> another."""
        return f"{self.name}@{backend_digest(self.backend)}"


def backend_digest(url: str) -> str:
    """A short digest of the backend URL; ``file://`` paths are resolved first (``~``, symlinks, trailing /)."""
    url = url.strip()
    if url.startswith("file://"):
        url = "file://" + str(Path(url.removeprefix("file://")).expanduser().resolve())
    return hashlib.sha256(url.rstrip("/").encode()).hexdigest()[:16]


def current_backend(env: Mapping[str, str]) -> str:
    """The backend `pulumi` uses: ``PULUMI_BACKEND_URL``, else the one ``pulumi login`` recorded, else ""."""
    if env.get("PULUMI_BACKEND_URL"):
        return env["PULUMI_BACKEND_URL"]
    home = Path(env.get("PULUMI_HOME") or Path.home() / ".pulumi").expanduser()
    try:
        current = json.loads((home / "credentials.json").read_text()).get("current")
    except (OSError, ValueError, AttributeError):
        return ""
    return str(current or "")


# ------------------------------------------------------------------------------------------------ checks
def credential_problems(config: TenantConfig, env: Mapping[str, str]) -> list[Problem]:
    """Secrets the providers read from the environment of `pulumi` (never from config or state)."""
    problems: list[Problem] = []
    if not env.get(ENV_API_KEY, "").strip():
        problems.append((ENV_API_KEY, "is not set in the environment of `pulumi`: export the Hostwinds API key"))
    dns_env = SECRET_ENV.get(config.dns.provider)
    if dns_env and not env.get(dns_env, "").strip():
        problems.append((dns_env, f"is not set in the environment of `pulumi`: the {config.dns.provider} DNS "
                                  "provider needs it (never put it in the stack file)"))
    if not (env.get("VAULT_ADDRS") or env.get("VAULT_ADDR")):
        problems.append(("VAULT_ADDR", "is not set in the environment of `pulumi`: export the Vault address(es) "
                                       "and VAULT_TOKEN or VAULT_ROLE_ID + VAULT_SECRET_ID"))
    return problems


def hostwinds_client(config: TenantConfig, env: Mapping[str, str]) -> HostwindsClient:
    """A client like the Instance provider's: key from the environment, URL from the config (or environment)."""
    return HostwindsClient(ClientSettings.from_env(env, api_url=config.hostwinds.api_url, rate_per_second=10.0))


def offer_problems(client: HostwindsClient, config: TenantConfig) -> list[Problem]:
    """The image, location and size (or ``hostwinds.plan_id``) must name exactly one thing this Hostwinds account
    offers (``hostwinds.catalog``: ``get_public_images``, ``get_locations``, unmanaged ``get_price_list``), else
    `add_instance` would fail after the Vault secrets and the Hostwinds key already exist. A refusal lists the
    valid values; the stack keeps the readable names, resolved to ids again at create. The image must also be one
    the Mailu installer supports, judged by its Hostwinds name (``mailu.docker_apt.image_problem``)."""
    catalog = client.catalog()
    plan_key = "hostwinds.plan_id" if config.hostwinds.plan_id else "size"
    problems: list[Problem] = []

    def offered(key: str, api: str, resolve: Callable[[], T]) -> T | None:
        try:
            return resolve()
        except OfferNotFound as exc:
            problems.append((f"{CONFIG_NAMESPACE}:{key}", f"{exc.problem} ({api})"))
            return None

    image = offered("image", "get_public_images", lambda: catalog.image(config.image))
    if image is not None and (unsupported := image_problem(image.id, image.name)) is not None:
        problems.append((f"{CONFIG_NAMESPACE}:image", unsupported))
    offered("location", "get_locations", lambda: catalog.location(config.location))
    offered(plan_key, "get_price_list", lambda: catalog.plan(config.plan_id, size_minimums(), field=plan_key))
    return problems


def claim_problems(client: VaultClient, config: TenantConfig, stack: StackRef) -> list[Problem]:
    """Another stack owning the tenant id, or another tenant owning the domain (or a parent/sub-domain)."""
    problems: list[Problem] = []
    checks: list[Callable[[], None]] = [
        lambda: claims.check_tenant_claim(client, config.tenant_id, stack.identity),
        lambda: claims.check_claim(client, config.domain, config.tenant_id),
    ]
    for check in checks:
        try:
            check()
        except claims.ClaimConflict as exc:
            problems.append((f"{CONFIG_NAMESPACE}:{exc.field}", exc.problem))
    return problems


def take_claims(client: VaultClient, config: TenantConfig, stack: StackRef) -> None:
    """Claim the tenant id for this stack, then the domain for the tenant (CAS; idempotent on re-runs)."""
    try:
        claims.claim_tenant(client, config.tenant_id, stack.identity, stack.name)
        claims.require_claim(client, config.domain, config.tenant_id)
    except claims.ClaimConflict as exc:
        raise PreflightError([(f"{CONFIG_NAMESPACE}:{exc.field}", exc.problem)]) from None


# ------------------------------------------------------------------------------------------------ entry point
def run(config: TenantConfig, stack: StackRef, *, dry_run: bool, env: Mapping[str, str] | None = None,
        vault: Callable[[], VaultClient] | None = None,
        hostwinds: Callable[[TenantConfig, Mapping[str, str]], HostwindsClient] | None = None) -> None:
    """Every check, then (not on a dry run) the claims. Raises ``PreflightError`` listing every problem."""
    env = os.environ if env is None else env
    problems: list[Problem] = []
    try:
        check_stack_name(config, stack.stack)
    except TenantConfigError as exc:
        problems += exc.problems
    missing = credential_problems(config, env)
    problems += missing
    missing_keys = {key for key, _ in missing}
    if ENV_API_KEY not in missing_keys:
        problems += _guarded("Hostwinds", lambda: offer_problems((hostwinds or hostwinds_client)(config, env), config))
    if "VAULT_ADDR" in missing_keys:
        raise PreflightError(problems)
    try:
        client = (vault or VaultClient.from_env)()
    except ToolkitError as exc:
        raise PreflightError([*problems, ("Vault", f"cannot connect: {exc}")]) from None
    with client:
        problems += _guarded("Vault", lambda: claim_problems(client, config, stack))
        if problems:
            raise PreflightError(problems)
        if not dry_run:
            take_claims(client, config, stack)


def _guarded(system: str, check: Callable[[], list[Problem]]) -> list[Problem]:
    """A check whose outside system fails becomes one problem (the error text is already redacted)."""
    try:
        return check()
    except ToolkitError as exc:
        return [(system, f"the preflight check could not run: {exc}")]
