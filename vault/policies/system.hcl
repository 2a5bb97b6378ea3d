# system: the provisioning/rotation service account (AppRole; CI may use JWT/OIDC with this policy).
# Creates secrets and new versions, reads and lists them. It can NOT delete, undelete or destroy versions,
# and can NOT write metadata (max_versions / delete_version_after would shorten the history).

path "vps/data/*" {
  capabilities = ["create", "read", "update"]
}
path "vps/metadata/*" {
  capabilities = ["read", "list"]
}
path "vps/metadata" {
  capabilities = ["list"]
}

path "smtp/data/*" {
  capabilities = ["create", "read", "update"]
}
path "smtp/metadata/*" {
  capabilities = ["read", "list"]
}
path "smtp/metadata" {
  capabilities = ["list"]
}

path "api_keys/data/*" {
  capabilities = ["create", "read", "update"]
}
path "api_keys/metadata/*" {
  capabilities = ["read", "list"]
}
path "api_keys/metadata" {
  capabilities = ["list"]
}

path "dkim/data/*" {
  capabilities = ["create", "read", "update"]
}
path "dkim/metadata/*" {
  capabilities = ["read", "list"]
}
path "dkim/metadata" {
  capabilities = ["list"]
}

# Ownership claims (vault.claims): create the first claim and read; never update or delete one (a claim is
# released only by an admin, on destroy with purge). Tenants have no path here.
path "claims/data/*" {
  capabilities = ["create", "read"]
}
path "claims/metadata/*" {
  capabilities = ["read", "list"]
}

# SMTP admin passwords: encrypt for storage, decrypt for the installer, rewrap after a key rotation.
path "transit/encrypt/smtp-admin" {
  capabilities = ["update"]
}
path "transit/decrypt/smtp-admin" {
  capabilities = ["update"]
}
path "transit/rewrap/smtp-admin" {
  capabilities = ["update"]
}

# API-key records: integrity tags (HMAC) over every record the system writes, checked on every verification.
# The key never leaves Vault; no other policy but admin may use it.
path "transit/hmac/apikey-records/sha2-256" {
  capabilities = ["update"]
}
path "transit/verify/apikey-records/sha2-256" {
  capabilities = ["update"]
}

# Tenant onboarding: a tenant entity (by name only), its token-auth alias and tokens from the "tenant" token
# role bound to that alias. The tenant policy renders its paths from the entity's NAME, which this policy cannot
# change: a POST to identity/entity with an existing name updates that entity, so no metadata, policies, id or
# other parameter is allowed here (a stolen system credential could otherwise point tenant A's entity at tenant
# B's secrets for as long as A's tokens live), and no identity/entity/id|name/*, merge, group or delete path is
# granted. Aliases cannot be made create-only either (same update-by-name semantics): vault.auth checks that the
# tenant's alias is bound to the tenant's entity before every token it issues.
path "identity/entity" {
  capabilities = ["create", "update"]
  allowed_parameters = {
    "name" = []
  }
}
path "identity/entity-alias" {
  capabilities = ["create", "update"]
  allowed_parameters = {
    "name"           = []
    "canonical_id"   = []
    "mount_accessor" = []
  }
}
path "identity/lookup/entity" {
  capabilities = ["update"]
}
path "sys/auth" {
  capabilities = ["read"]
}
path "auth/token/create/tenant" {
  capabilities = ["update"]
}

# Cluster health for `invoke status` (node ids, addresses, raft indexes; no secret data, nothing writable).
path "sys/storage/raft/autopilot/state" {
  capabilities = ["read"]
}
path "sys/storage/raft/configuration" {
  capabilities = ["read"]
}
