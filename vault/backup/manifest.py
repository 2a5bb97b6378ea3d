"""The JSON manifest stored next to each encrypted blob, and backup naming.

A backup named ``vault-20261125T020000Z`` is two objects in the store:

- ``vault-20261125T020000Z.snap.enc``: the encrypted raft snapshot (see ``vault.backup.crypto``);
- ``vault-20261125T020000Z.manifest.json``: this manifest, written last (a blob without a manifest is an
  incomplete backup and is never listed as one).

The manifest records the SHA-256 and size of both the plaintext snapshot and the ciphertext blob, the source
cluster's seal settings (a restore must unseal with the source's keys), the keyed digests of every KV secret
at backup time (``secrets``: ``mount/path -> [version, digest]``) and the canary paths. It carries an
HMAC-SHA256 (``mac``, keyed from the backup key) over its canonical JSON, so any edit is detected.
"""

from __future__ import annotations

import hmac
import json
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from vault.backup.crypto import BackupKey
from vault.backup.errors import ManifestError

FORMAT = "pm-vault-backup"
MANIFEST_VERSION = 1
BLOB_SUFFIX = ".snap.enc"
MANIFEST_SUFFIX = ".manifest.json"
NAME_PREFIX = "vault-"
_STAMP = "%Y%m%dT%H%M%SZ"
_NAME = re.compile(r"^vault-(\d{8}T\d{6}Z)$")


def backup_name(created_at: datetime) -> str:
    return NAME_PREFIX + created_at.astimezone(UTC).strftime(_STAMP)


def parse_name(name: str) -> datetime | None:
    """The creation time encoded in a backup name, or None if ``name`` is not a backup name."""
    match = _NAME.match(name)
    if not match:
        return None
    return datetime.strptime(match.group(1), _STAMP).replace(tzinfo=UTC)


def blob_key(name: str) -> str:
    return name + BLOB_SUFFIX


def manifest_key(name: str) -> str:
    return name + MANIFEST_SUFFIX


@dataclass(frozen=True)
class SourceInfo:
    addresses: list[str]
    cluster_id: str = ""
    cluster_name: str = ""
    server_version: str = ""
    seal_type: str = "shamir"
    shares: int = 5
    threshold: int = 3
    audit_devices: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Manifest:
    name: str
    created_at: str
    source: SourceInfo
    plaintext_bytes: int
    plaintext_sha256: str
    ciphertext_bytes: int
    ciphertext_sha256: str
    chunk_size: int
    key_id: str
    secret_mounts: list[str]
    secrets: dict[str, tuple[int, str]]
    """``mount/path`` -> (KV version, keyed digest of that version's data)."""
    canaries: list[str]
    algorithm: str = "AES-256-GCM"
    digest: str = "HMAC-SHA256"

    @property
    def blob(self) -> str:
        return blob_key(self.name)

    @property
    def created(self) -> datetime:
        return datetime.fromisoformat(self.created_at)

    def _body(self) -> dict[str, Any]:
        body = asdict(self)
        body["secrets"] = {path: [v, d] for path, (v, d) in sorted(self.secrets.items())}
        return {"format": FORMAT, "version": MANIFEST_VERSION, **body}

    def to_json(self, key: BackupKey) -> bytes:
        body = self._body()
        body["mac"] = key.mac(_canonical(body))
        return json.dumps(body, indent=1, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes, key: BackupKey) -> Manifest:
        """Parse and authenticate a manifest; any edit, truncation or wrong key raises ``ManifestError``."""
        if not data:
            raise ManifestError("the manifest is empty (0 bytes)")
        try:
            body = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ManifestError(f"the manifest is not valid JSON ({exc.__class__.__name__})") from None
        if not isinstance(body, dict) or body.get("format") != FORMAT:
            raise ManifestError("not a backup manifest (missing or wrong `format`)")
        if body.get("version") != MANIFEST_VERSION:
            raise ManifestError(f"unsupported manifest version {body.get('version')!r}")
        mac = body.pop("mac", None)
        if not isinstance(mac, str) or not hmac.compare_digest(mac, key.mac(_canonical(body))):
            raise ManifestError(
                "the manifest MAC does not verify: it was modified, or the backup key is not the one used"
            )
        try:
            body.pop("format")
            body.pop("version")
            body["source"] = SourceInfo(**body["source"])
            body["secrets"] = {p: (int(v), str(d)) for p, (v, d) in body["secrets"].items()}
            return cls(**body)
        except (KeyError, TypeError, ValueError) as exc:
            raise ManifestError(f"the manifest is missing or has malformed fields ({exc})") from None


def _canonical(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
