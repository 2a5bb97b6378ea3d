"""Vault/OpenBao layer of the toolkit: secret layout, HA client, keys generated straight into Vault,
policies and bootstrap, response wrapping and tenant API keys.

Plain typed Python (hvac + cryptography + bcrypt); nothing here knows Pulumi or invoke.
"""
