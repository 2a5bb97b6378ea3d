"""Idempotent operations on a Linux host over SSH (the pyinfra way: read the facts, change only what differs,
report what changed): files and directories, systemd services, an sshd drop-in, users. Plain typed Python over
``toolkit.ssh``; the Mailu installer and the Vault cluster's node installer build on it."""
