# tenant: one templated policy for every tenant. The tenant id is the NAME of the token's identity entity
# (tokens from the "tenant" token role, bound to entity alias tenant-<id> of the entity named <id>). Not its
# metadata: the system account could rewrite metadata, it cannot rename an entity.
# Tenant ids are validated ([a-z0-9-]): OpenBao invalidates tokens whose templated values hold / + *.
# A token without an entity renders these paths empty and gets nothing from them.

# The tenant's own SSH key pair (the admin key pair is never shown to tenants).
path "vps/data/{{identity.entity.name}}/tenant_ssh" {
  capabilities = ["read"]
}
path "vps/metadata/{{identity.entity.name}}/tenant_ssh" {
  capabilities = ["read"]
}
path "vps/metadata/{{identity.entity.name}}/" {
  capabilities = ["list"]
}

# The Mailu admin credential record (ciphertext only: no transit decrypt for tenants; the clear
# password is handed out as a one-time wrapped token).
path "smtp/data/{{identity.entity.name}}/admin" {
  capabilities = ["read"]
}
path "smtp/metadata/{{identity.entity.name}}/" {
  capabilities = ["list"]
}

# API keys: read and list its own records, never write them. Keys are issued, rotated and revoked by the
# system on the tenant's behalf (apikey.* tasks); verification trusts only records carrying the system's
# transit HMAC (vault.apikey_records), and tenants get no transit access at all. No access to the lookup
# index api_keys/_index/ either.
path "api_keys/data/{{identity.entity.name}}/*" {
  capabilities = ["read"]
}
path "api_keys/metadata/{{identity.entity.name}}/*" {
  capabilities = ["read"]
}
path "api_keys/metadata/{{identity.entity.name}}/" {
  capabilities = ["list"]
}
