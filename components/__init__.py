"""Pulumi components of the tenant stack (thin wrappers over the plain-Python packages)."""
