"""Per-tenant operations that span several outside systems (Vault + Hostwinds + DNS + the VPS): verification,
status, migration, rotation. Plain typed Python used by the Pulumi components and the invoke tasks alike."""
