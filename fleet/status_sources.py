"""Where `invoke status` gets its data: the ``Sources`` port, and ``LiveSources`` over the real systems (Pulumi stack
outputs, the Hostwinds API, Vault, the backup store, the authoritative DNS servers, the VPS over SSH).

Every outside read of the collector goes through ``Sources``, so unit tests pass a fake and nothing is patched.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

from dnsrecords.verify import VerifyReport
from fleet.intent import TenantIntent
from fleet.intent_bulk import load_intent
from fleet.key_age import KeyAge, Kind, read_key_ages
from fleet.stack_engine import StackOutputsError, stack_outputs
from fleet.status_cert import CERT_PATH
from fleet.status_model import StatusError
from fleet.verify import hostwinds_client, verify_tenant
from hostwinds.client import HostwindsClient
from hostwinds.models import Instance
from hostwinds.settings import RetryPolicy
from toolkit.redact import Secret
from toolkit.ssh import KnownHosts, SshExecutor
from toolkit.tenant_config import TenantConfig
from vault import keys as vault_keys
from vault import paths
from vault.backup import list_backups, open_store
from vault.bulk import BulkReader
from vault.client import VaultClient
from vault.config import VaultConfig
from vault.nodes import NodeHealth, probe_all

T = TypeVar("T")
KeyAges = tuple[dict[Kind, KeyAge], tuple[str, ...]]
"""Every key's age, and the Vault paths of the keys that do not exist (``fleet.key_age.read_key_ages``)."""


@dataclass(frozen=True)
class StatusSettings:
    """Where the data comes from. ``env`` holds the connection settings (VAULT_ADDR(S), VAULT_TOKEN,
    HOSTWINDS_API_URL/KEY, PM_DNS_*, PULUMI_*); ``work_dir`` is the Pulumi project folder whose stacks hold the
    outputs (None: always look the VPS up by label)."""

    stacks_dir: Path
    env: Mapping[str, str]
    work_dir: Path | None = None
    backup_dest: str | None = None
    s3_endpoint: str | None = None
    cert_path: str = CERT_PATH
    tls_ports: tuple[int, ...] = (443, 465, 993)
    """Where the served certificate is read first (empty: only the file on the VPS)."""
    ssh_port: int = 22
    ssh_timeout: float = 10.0
    http_timeout: float = 10.0
    vault_deadline: float = 10.0
    workers: int = 4


class Sources(Protocol):
    """What the collector needs from the outside systems (``LiveSources``; unit tests pass fakes)."""

    def stack_outputs(self, tenant: str) -> Mapping[str, Any]: ...

    def instances(self, config: TenantConfig) -> list[Instance]: ...

    def vault(self) -> VaultClient: ...

    def vault_nodes(self) -> list[NodeHealth]: ...

    def intent(self, tenant: str, vault: VaultClient) -> TenantIntent | None: ...

    def key_ages(self, config: TenantConfig, current: TenantIntent, vault: VaultClient) -> KeyAges: ...

    def admin_key(self, tenant: str, vault: VaultClient) -> Secret: ...

    def backups(self) -> tuple[list[datetime], str]: ...

    def verify_dns(self, config: TenantConfig, mail_ip: str, serviceid: str,
                   vault: VaultClient | None) -> VerifyReport: ...

    def read_certificate(self, host: str, private_key: Secret) -> bytes | None: ...


class _Memo:
    """Thread-safe memo of zero-argument results by key (errors are remembered too: fail once per run)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, threading.Lock] = {}
        self._values: dict[str, tuple[bool, Any]] = {}

    def get(self, key: str, make: Callable[[], T]) -> T:
        with self._lock:
            key_lock = self._keys.setdefault(key, threading.Lock())
        with key_lock:
            if key not in self._values:
                try:
                    self._values[key] = (True, make())
                except Exception as exc:
                    self._values[key] = (False, exc)
            ok, value = self._values[key]
        if not ok:
            raise value
        return value  # type: ignore[no-any-return]


class LiveSources:
    """The real systems: the Pulumi engine, Hostwinds API, Vault, the backup store, DNS servers, the VPS over SSH."""

    def __init__(self, settings: StatusSettings) -> None:
        self.settings = settings
        self._memo = _Memo()
        self._vault_client: VaultClient | None = None
        self._reader: BulkReader | None = None

    def stack_outputs(self, tenant: str) -> Mapping[str, Any]:
        """The stack's outputs in the work dir (``fleet.stack_engine``); {} when there is no work dir."""
        if self.settings.work_dir is None:
            return {}
        try:
            return stack_outputs(tenant, work_dir=self.settings.work_dir, env=self.settings.env)
        except StackOutputsError as exc:
            raise StatusError(str(exc)) from None

    def _hostwinds(self, config: TenantConfig) -> HostwindsClient:
        def make() -> HostwindsClient:
            return hostwinds_client(config, self.settings.env, http_timeout=self.settings.http_timeout,
                                    retry=RetryPolicy(attempts=2, base_delay=0.5, max_delay=2.0))

        return self._memo.get(f"hostwinds:{config.hostwinds.api_url or ''}", make)

    def instances(self, config: TenantConfig) -> list[Instance]:
        """Every instance of the account, listed once per run (one API call for the whole fleet)."""
        client = self._hostwinds(config)
        return self._memo.get(f"instances:{client.settings.url}", client.list_instances)

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
        if self._vault_client is not None:
            self._vault_client.close()

    def vault(self) -> VaultClient:
        def make() -> VaultClient:
            config = VaultConfig.from_env(self.settings.env, op_deadline=self.settings.vault_deadline,
                                          timeout=min(self.settings.http_timeout, 5.0))
            self._vault_client = VaultClient(config, manage_token=False)
            return self._vault_client

        return self._memo.get("vault", make)

    def intent(self, tenant: str, vault: VaultClient) -> TenantIntent | None:
        """One read per tenant on keep-alive connections (``fleet.intent_bulk``)."""
        def make() -> BulkReader:
            self._reader = BulkReader(vault)
            return self._reader

        return load_intent(self._memo.get("bulk-reader", make), vault, tenant)

    def key_ages(self, config: TenantConfig, current: TenantIntent, vault: VaultClient) -> KeyAges:
        return read_key_ages(vault, current, config.domain)

    def admin_key(self, tenant: str, vault: VaultClient) -> Secret:
        return vault_keys.read_private(vault, paths.admin_ssh(tenant))

    def vault_nodes(self) -> list[NodeHealth]:
        def make() -> list[NodeHealth]:
            # sys/health needs no token: probe without logging in, so health shows even when auth fails.
            config = VaultConfig.from_env(self.settings.env)
            return probe_all(config.addresses, timeout=min(self.settings.http_timeout, 3.0), verify=config.verify)

        return self._memo.get("vault-nodes", make)

    def backups(self) -> tuple[list[datetime], str]:
        def make() -> tuple[list[datetime], str]:
            dest = self.settings.backup_dest or self.settings.env.get("PM_BACKUP_DEST")
            if not dest:
                raise StatusError("no backup destination (set PM_BACKUP_DEST or --backup-dest)")
            store = open_store(dest, s3_endpoint=self.settings.s3_endpoint or None)
            return [ref.created for ref in list_backups(store)], store.description

        return self._memo.get("backups", make)

    def verify_dns(self, config: TenantConfig, mail_ip: str, serviceid: str,
                   vault: VaultClient | None) -> VerifyReport:
        return verify_tenant(config, mail_ip=mail_ip, vault=vault, serviceid=serviceid,
                             hostwinds=lambda: self._hostwinds(config))

    def read_certificate(self, host: str, private_key: Secret) -> bytes | None:
        """The certificate the mail host serves (HTTPS, then SMTPS and IMAPS: what clients see, whatever Mailu's
        TLS flavour stores where), else the certificate file on the VPS, or None when there is neither. Read-only,
        so a host key seen for the first time is accepted (nothing secret is sent: public-key authentication)."""
        served = served_certificate(host, self.settings.tls_ports, timeout=self.settings.http_timeout)
        if served is not None:
            return served
        timeout = self.settings.ssh_timeout
        with SshExecutor(host, private_key, port=self.settings.ssh_port, known_hosts=KnownHosts(
                trust_on_first_use=True), connect_timeout=timeout, boot_timeout=timeout,
                command_timeout=timeout * 3) as ssh:
            return ssh.read_file_if_exists(self.settings.cert_path)


def served_certificate(host: str, ports: tuple[int, ...], timeout: float = 10.0) -> bytes | None:
    """The leaf certificate (PEM) the first answering TLS port of ``host`` presents. Not verified here: status
    grades its expiry and names; trust is the clients' business (a self-signed sandbox certificate still shows)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    for port in ports:
        try:
            with socket.create_connection((host, port), timeout=timeout) as raw, \
                    context.wrap_socket(raw) as tls:
                der = tls.getpeercert(binary_form=True)
        except (OSError, ssl.SSLError):
            continue
        if der:
            return ssl.DER_cert_to_PEM_cert(der).encode()
    return None

