"""Mailu on a tenant VPS: typed config, deterministic rendering of its files, host hardening and an idempotent
installer that runs over SSH. Plain Python: knows nothing of Pulumi or invoke (see components/mailu_install.py).
"""
