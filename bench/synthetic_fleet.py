"""A synthetic fleet for the 10,000-tenant benchmarks: stack files, and each tenant's Vault records.

    .venv/bin/python bench/synthetic_fleet.py --tenants 10000 --stacks-dir /tmp/fleet/stacks   (files only)

``write_stack_files`` writes ``Pulumi.t00000.yaml``... in the layout ``invoke tenant.new`` writes (the same keys, one
template filled in per tenant, so 10,000 files take a second); every file is valid for ``toolkit.tenant_config``
(``check_sample`` loads a few through the one reader). ``seed_vault`` writes what the fleet-wide tasks read per
tenant: the day-2 intent (``vps/<t>/intent``, with ``since`` stamps spread over the rotation periods, some SSH
grace keys and retired DKIM selectors), both SSH keys, the SMTP admin record and the DKIM key, with placeholder
key material of realistic size (planning and status never read private fields). Dates are relative to ``NOW``
and random with a fixed seed, so every run builds the same fleet.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fleet import intent
from fleet.clock import iso
from tests import pem
from toolkit import stack_files
from vault import kv, paths
from vault.client import VaultClient

NOW = dt.datetime(2026, 11, 25, tzinfo=dt.UTC)
SELECTOR = "pm20260101"
PLACEHOLDER_KEY = f"{pem.begin('OPENSSH')}\n" + "A" * 340 + f"\n{pem.end('OPENSSH')}\n"  # markers built at run time

STACK_TEMPLATE = """\
# Tenant {tenant}: one Pulumi stack. Keys under `pm:` are validated before
# anything is created (toolkit/tenant_config.py). Secrets never go here: the Hostwinds API key, the TSIG
# secret and Vault credentials come from the environment.
config:
  pm:tenant_id: {tenant}
  pm:domain: {tenant}.bench.example
  pm:size: small
  pm:location: '1'
  pm:image: ubuntu-22.04
  pm:dns:
    provider: rfc2136
    server: 127.0.0.1
    port: 53
    zone: bench.example
    tsig_key_name: bench-update
    tsig_algorithm: hmac-sha256
  pm:ttl: "3600"
  pm:dmarc_stage: none
  pm:dmarc_rua: mailto:dmarc@{tenant}.bench.example
  pm:spf_includes: []
  pm:ssh_key_type: ed25519
  pm:dkim_selector: {selector}
  pm:purge_secrets_on_destroy: "false"
  pm:hostwinds:
    firewall_profile: mail
    vps_generation: 1
  pm:ptr_check: hostwinds
"""


def tenant_name(index: int) -> str:
    return f"t{index:05d}"


def write_stack_files(stacks_dir: Path, count: int) -> list[str]:
    """``count`` stack files (``t00000``...); returns the tenant ids."""
    stacks_dir.mkdir(parents=True, exist_ok=True)
    names = [tenant_name(i) for i in range(count)]
    for name in names:
        (stacks_dir / f"Pulumi.{name}.yaml").write_text(STACK_TEMPLATE.format(tenant=name, selector=SELECTOR))
    return names


def check_sample(stacks_dir: Path, names: list[str]) -> None:
    """A few of the files through the one reader (the template must stay valid as the model evolves)."""
    for name in names[:: max(1, len(names) // 5)]:
        config = stack_files.load(stacks_dir, name)
        assert config.tenant_id == name, config


def seed_tenant(client: VaultClient, index: int, *, fresh: bool = False) -> None:
    """One tenant's intent and keys (``fresh``: everything just rotated, no open window)."""
    rng = random.Random(index)
    tenant = tenant_name(index)
    domain = f"{tenant}.bench.example"
    spread = 0 if fresh else 1
    retired: tuple[intent.RetiredDkim, ...] = ()
    if index % 10 == 0 and not fresh:
        retired = (intent.RetiredDkim("pm20251120", "x", iso(NOW - dt.timedelta(hours=rng.randint(-30, 30)))),)
    grace: tuple[intent.GraceKey, ...] = ()
    if index % 7 == 0 and not fresh:
        grace = (intent.GraceKey("ssh-ed25519 AAAA old", "SHA256:o", 1,
                                 iso(NOW + dt.timedelta(hours=rng.randint(-20, 20)))),)
    since = {name: iso(NOW - dt.timedelta(days=spread * rng.randint(0, 120 if "ssh" in name else 400)))
             for name in intent.SECRET_NAMES}
    intent.save(client, intent.TenantIntent(
        tenant, intent.DkimIntent(SELECTOR, "n", retired, history=(SELECTOR,)),
        admin_ssh=intent.SshIntent(grace=grace), since=since))
    for kind in (paths.SshKeyKind.ADMIN, paths.SshKeyKind.TENANT):
        rotated = NOW - dt.timedelta(days=spread * rng.randint(0, 120))
        kv.write_next(client, paths.ssh_key(tenant, kind), {
            "private_key": PLACEHOLDER_KEY, "public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA bench",
            "fingerprint": "SHA256:x", "algorithm": "ed25519", "created_at": iso(rotated),
            "last_rotated": iso(rotated), "rotation_policy": "90_days"})
    kv.write_next(client, paths.smtp_admin(tenant), {
        "username": f"admin@{domain}", "encrypted_password": "vault:v1:" + "p" * 80,
        "last_rotated": iso(NOW - dt.timedelta(days=spread * rng.randint(0, 200))), "rotation_policy": "180_days"})
    kv.write_next(client, paths.dkim(domain, SELECTOR), {
        "private_key": PLACEHOLDER_KEY, "public_key": "MCowBQYDK2VwAyEA" + "k" * 28, "state": "active",
        "last_rotated": iso(NOW - dt.timedelta(days=spread * rng.randint(0, 400)))})


def seed_vault(client: VaultClient, count: int, *, workers: int = 16, fresh: bool = False) -> None:
    """Every tenant's records (5 per tenant), ``workers`` tenants at a time."""
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda index: seed_tenant(client, index, fresh=fresh), range(count)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=10000)
    parser.add_argument("--stacks-dir", type=Path, required=True)
    args = parser.parse_args()
    names = write_stack_files(args.stacks_dir, args.tenants)
    check_sample(args.stacks_dir, names)
    print(f"{len(names)} stack files in {args.stacks_dir}")


if __name__ == "__main__":
    main()
