"""A tenant's day-2 intent read through the bulk reader (``vault.bulk``): `rotate.due`'s plan and `status` read one
intent per tenant, 10,000 of them, where the HA client's ~1.5 ms of CPU per read (hvac, requests, the retry loop)
would be most of the run. A node that stops answering sends the read through the client's failover instead."""

from __future__ import annotations

from fleet import intent
from fleet.intent import TenantIntent
from vault import paths
from vault.bulk import BulkReader
from vault.client import VaultClient
from vault.errors import VaultUnavailable


def load_intent(reader: BulkReader, vault: VaultClient, tenant: str) -> TenantIntent | None:
    """``intent.load`` (None when the tenant has none), read on the reader's node."""
    try:
        found = reader.read_secret(paths.intent(tenant))
    except VaultUnavailable:
        return intent.load(vault, tenant)
    return intent.from_data(tenant, found[0], found[1]) if found is not None else None
