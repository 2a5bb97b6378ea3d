"""Ownership claims: which tenant owns a domain, and which stack owns a tenant id.

Domain-keyed secrets (``dkim/<domain>/...``) and the DNS of a domain belong to one tenant; tenant-keyed secrets
(``vps/<tenant>/...``, ``smtp/<tenant>/...``) belong to one stack. Nothing in those paths says so, so a stack
configured with another tenant's domain or id could overwrite that tenant's keys. A claim records the owner:

    claims/domain/<domain>    {"tenant_id": ...}                              first claim wins (CAS 0)
    claims/tenant/<tenant_id> {"holder": <stack identity>, "stack": ...}       first claim wins (CAS 0)

Claims are created with check-and-set version 0, so two stacks racing for the same name cannot both win. A
domain is also refused while another tenant holds a parent or a sub-domain of it (``example.com`` owns the names
under it). The ``claims`` mount is system-only: the system policy may create and read claims, never update or
delete them; the tenant policy has no path there; releasing a claim (``release_*``, on ``pulumi destroy`` with
purge) needs an admin token, like purging the secrets themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

from toolkit import validate
from vault import kv, paths
from vault.client import VaultClient
from vault.errors import CasConflict, SecretNotFound, VaultError, VaultPermissionDenied
from vault.keys import now_iso

DOMAIN_FOLDER = "domain"
TENANT_FOLDER = "tenant"
_SETUP_HINT = "run the vault bootstrap (it creates the claims/ mount and the system policy's claim paths)"


class ClaimConflict(VaultError):
    """A domain or tenant id is already claimed by another tenant or stack. ``field`` names the config key."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


@dataclass(frozen=True)
class DomainClaim:
    domain: str
    tenant_id: str
    claimed_at: str = ""

    @property
    def path(self) -> str:
        return domain_claim_path(self.domain).logical


@dataclass(frozen=True)
class TenantClaim:
    tenant_id: str
    holder: str
    """The identity of the stack that owns the tenant id (see ``fleet.preflight.StackRef.identity``)."""
    stack: str = ""
    """The stack's name as people read it (organization/project/stack)."""
    claimed_at: str = ""

    @property
    def path(self) -> str:
        return tenant_claim_path(self.tenant_id).logical


def domain_claim_path(domain: str) -> paths.SecretPath:
    return paths.SecretPath(paths.CLAIMS_MOUNT, f"{DOMAIN_FOLDER}/{validate.domain(domain)}")


def tenant_claim_path(tenant_id: str) -> paths.SecretPath:
    return paths.SecretPath(paths.CLAIMS_MOUNT, f"{TENANT_FOLDER}/{validate.tenant_id(tenant_id)}")


# ------------------------------------------------------------------------------------------------ reading
def _read(client: VaultClient, path: paths.SecretPath) -> kv.KvSecret | None:
    try:
        return kv.read(client, path)
    except SecretNotFound:
        return None
    except VaultPermissionDenied as exc:
        raise VaultPermissionDenied(f"{exc} ({_SETUP_HINT})") from None


def read_domain_claim(client: VaultClient, domain: str) -> DomainClaim | None:
    found = _read(client, domain_claim_path(domain))
    if found is None:
        return None
    return DomainClaim(validate.domain(domain), str(found.data.get("tenant_id", "")),
                       str(found.data.get("claimed_at", "")))


def read_tenant_claim(client: VaultClient, tenant_id: str) -> TenantClaim | None:
    found = _read(client, tenant_claim_path(tenant_id))
    if found is None:
        return None
    return TenantClaim(tenant_id, str(found.data.get("holder", "")), str(found.data.get("stack", "")),
                       str(found.data.get("claimed_at", "")))


def _ancestors(domain: str) -> list[str]:
    labels = domain.split(".")
    return [".".join(labels[i:]) for i in range(1, len(labels) - 1)]


def domain_conflicts(client: VaultClient, domain: str, tenant_id: str | None) -> list[DomainClaim]:
    """Claims of other tenants on ``domain``, on a parent of it or on a name under it (empty: free for us)."""
    domain = validate.domain(domain)
    found = [claim for name in (domain, *_ancestors(domain)) if (claim := read_domain_claim(client, name))]
    try:
        names = kv.list_keys(client, paths.CLAIMS_MOUNT, DOMAIN_FOLDER)
    except VaultPermissionDenied as exc:
        raise VaultPermissionDenied(f"{exc} ({_SETUP_HINT})") from None
    for name in names:
        if name.endswith("." + domain) and (claim := read_domain_claim(client, name)):
            found.append(claim)
    return [claim for claim in found if claim.tenant_id != tenant_id]


def _domain_problem(domain: str, claim: DomainClaim) -> str:
    if claim.domain == domain:
        where = f"{domain} is claimed by tenant {claim.tenant_id!r}"
    elif domain.endswith("." + claim.domain):
        where = f"{domain} is inside {claim.domain}, which tenant {claim.tenant_id!r} claims"
    else:
        where = f"{claim.domain} (under {domain}) is claimed by tenant {claim.tenant_id!r}"
    return (f"{where} (Vault {claim.path}): a stack may only use a domain no other tenant holds. Use this "
            "tenant's own domain; an admin releases a claim only after its tenant is destroyed with purge")


def check_claim(client: VaultClient, domain: str, tenant_id: str | None) -> None:
    """Raise ``ClaimConflict`` when another tenant holds ``domain`` (or a parent/sub-domain). Writes nothing."""
    conflicts = domain_conflicts(client, domain, tenant_id)
    if conflicts:
        raise ClaimConflict("domain", _domain_problem(validate.domain(domain), conflicts[0]))


def require_claim(client: VaultClient, domain: str, tenant_id: str) -> DomainClaim:
    """Make sure ``tenant_id`` owns ``domain`` before anything keyed by the domain is written.

    Free: claimed now (CAS 0, so a racing claimant loses). Held by the tenant: nothing written. Held by another
    tenant (or a parent/sub-domain is): ``ClaimConflict``. Every writer of domain-keyed secrets calls this."""
    domain, tenant_id = validate.domain(domain), validate.tenant_id(tenant_id)
    check_claim(client, domain, tenant_id)
    current = read_domain_claim(client, domain)
    if current is not None:  # claimed between the check and this read: by us, or by a racing tenant
        if current.tenant_id != tenant_id:
            raise ClaimConflict("domain", _domain_problem(domain, current))
        return current
    claim = DomainClaim(domain, tenant_id, now_iso())
    _create(client, domain_claim_path(domain), {"tenant_id": tenant_id, "claimed_at": claim.claimed_at})
    winner = read_domain_claim(client, domain)
    if winner is None or winner.tenant_id != tenant_id:
        raise ClaimConflict("domain", _domain_problem(domain, winner or claim))
    return winner


def _tenant_problem(claim: TenantClaim) -> str:
    return (f"tenant id {claim.tenant_id!r} is already owned by stack {claim.stack or claim.holder!r} "
            f"(Vault {claim.path}; that stack lives in another project or state backend): two stacks with one "
            "tenant id would overwrite each other's SSH, SMTP and Mailu secrets. Pick another tenant id, or run "
            "this tenant from the stack that owns it")


def check_tenant_claim(client: VaultClient, tenant_id: str, holder: str) -> None:
    """Raise ``ClaimConflict`` when another stack owns ``tenant_id``. Writes nothing."""
    current = read_tenant_claim(client, tenant_id)
    if current is not None and current.holder != holder:
        raise ClaimConflict("tenant_id", _tenant_problem(current))


def claim_tenant(client: VaultClient, tenant_id: str, holder: str, stack: str = "") -> TenantClaim:
    """Claim ``tenant_id`` for the stack ``holder`` (CAS 0); idempotent for the same holder."""
    tenant_id = validate.tenant_id(tenant_id)
    check_tenant_claim(client, tenant_id, holder)
    current = read_tenant_claim(client, tenant_id)
    if current is not None:  # claimed between the check and this read: by us, or by a racing stack
        if current.holder != holder:
            raise ClaimConflict("tenant_id", _tenant_problem(current))
        return current
    _create(client, tenant_claim_path(tenant_id), {"holder": holder, "stack": stack, "claimed_at": now_iso()})
    winner = read_tenant_claim(client, tenant_id)
    if winner is None or winner.holder != holder:
        raise ClaimConflict("tenant_id", _tenant_problem(winner or TenantClaim(tenant_id, "?", "?")))
    return winner


def _create(client: VaultClient, path: paths.SecretPath, data: dict[str, str]) -> None:
    try:
        kv.write(client, path, data, cas=0)
    except CasConflict:
        return  # someone claimed it first: the caller reads the winner back
    except VaultPermissionDenied as exc:
        # An existing claim is an update, which the system policy refuses on purpose: treat it like a lost race.
        if _read(client, path) is not None:
            return
        raise VaultPermissionDenied(f"{exc} ({_SETUP_HINT})") from None
    except SecretNotFound as exc:
        raise VaultError(f"{exc}: the claims/ mount does not exist ({_SETUP_HINT})") from None


# ------------------------------------------------------------------------------------------------ releasing
def release_domain(client: VaultClient, domain: str, tenant_id: str) -> bool:
    """Delete the claim on ``domain`` if ``tenant_id`` holds it (admin token). True when one was released."""
    current = read_domain_claim(client, domain)
    if current is None or current.tenant_id != tenant_id:
        return False
    kv.purge(client, domain_claim_path(domain))
    return True


def release_tenant(client: VaultClient, tenant_id: str, holder: str) -> bool:
    """Delete the claim on ``tenant_id`` if the stack ``holder`` owns it (admin token)."""
    current = read_tenant_claim(client, tenant_id)
    if current is None or current.holder != holder:
        return False
    kv.purge(client, tenant_claim_path(tenant_id))
    return True
