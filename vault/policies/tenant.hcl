# tenant: one templated policy for every tenant. The tenant id comes from the metadata of the token's
# identity entity (tokens from the "tenant" token role, bound to entity alias tenant-<id>).
# Tenant ids are validated ([a-z0-9-]): OpenBao invalidates tokens whose templated values hold / + *.
# A token without that metadata renders these paths empty and gets nothing from them.

# The tenant's own SSH key pair (the admin key pair is never shown to tenants).
path "vps/data/{{identity.entity.metadata.tenant_id}}/tenant_ssh" {
  capabilities = ["read"]
}
path "vps/metadata/{{identity.entity.metadata.tenant_id}}/tenant_ssh" {
  capabilities = ["read"]
}
path "vps/metadata/{{identity.entity.metadata.tenant_id}}/" {
  capabilities = ["list"]
}

# The Mailu admin credential record (ciphertext only: no transit decrypt for tenants; the clear
# password is handed out as a one-time wrapped token).
path "smtp/data/{{identity.entity.metadata.tenant_id}}/admin" {
  capabilities = ["read"]
}
path "smtp/metadata/{{identity.entity.metadata.tenant_id}}/" {
  capabilities = ["list"]
}

# API keys: create, read, revoke (update to status=revoked) and list its own; never delete history.
path "api_keys/data/{{identity.entity.metadata.tenant_id}}/*" {
  capabilities = ["create", "read", "update"]
}
path "api_keys/metadata/{{identity.entity.metadata.tenant_id}}/*" {
  capabilities = ["read"]
}
path "api_keys/metadata/{{identity.entity.metadata.tenant_id}}/" {
  capabilities = ["list"]
}
# The lookup index is create-only: a tenant can add entries for its new keys, never change existing ones.
path "api_keys/data/_index/*" {
  capabilities = ["create"]
}
