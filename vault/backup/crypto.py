"""AES-256-GCM encryption of snapshot files, streamed in chunks, with a key held outside Vault.

Blob format (version 1), all integers big-endian::

    header (33 bytes) = MAGIC "PMVAULTB" (8) | version u8 (1) | chunk_size u32 (4)
                        | base nonce (12, random per blob) | key id (8)
    then chunks       = AES-256-GCM(chunk_i) = ciphertext (<= chunk_size) | tag (16)

- Chunk ``i`` uses nonce ``base_nonce XOR i`` and AAD ``header | i (u64) | final flag (u8)``: every chunk
  authenticates the whole header, its position, and whether it is the last one, so reordering, dropping,
  truncating at a chunk boundary or appending chunks all fail the tag check.
- Streaming keeps memory at one chunk (default 1 MiB) whatever the snapshot size.
- The key id (HKDF of the key) lets a wrong key be reported as such instead of as tampering; it reveals
  nothing about the key. Sub-keys for the manifest MAC and secret digests come from the same HKDF.
- Empty plaintext is refused: a 0-byte snapshot is never a backup.

The key: 32 random bytes, base64 in env ``PM_BACKUP_KEY`` or in a key file (``PM_BACKUP_KEY_FILE``; base64
text or the raw 32 bytes). Keep it outside Vault (a password manager / offline safe and the backup host).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import secrets
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from vault.backup.errors import BackupKeyError, DecryptionError, EmptyBackupError, WrongKeyError

log = logging.getLogger(__name__)

MAGIC = b"PMVAULTB"
VERSION = 1
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
KEY_ID_BYTES = 8
DEFAULT_CHUNK = 1024 * 1024
_HEADER = struct.Struct(f">{len(MAGIC)}sBI{NONCE_BYTES}s{KEY_ID_BYTES}s")
HEADER_BYTES = _HEADER.size
KEY_ENV = "PM_BACKUP_KEY"
KEY_FILE_ENV = "PM_BACKUP_KEY_FILE"


def _derive(key: bytes, purpose: bytes, length: int = 32) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=b"pm-vault-backup/" + purpose).derive(key)


class BackupKey:
    """The 32-byte backup key. Never shown by repr/str; sub-keys are derived for other purposes."""

    __slots__ = ("_digest_key", "_key", "_mac_key", "key_id")

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise BackupKeyError("backup key", f"must be {KEY_BYTES} bytes, got {len(key)}")
        self._key = key
        self.key_id = _derive(key, b"key-id", KEY_ID_BYTES)
        self._mac_key = _derive(key, b"manifest-mac")
        self._digest_key = _derive(key, b"secret-digest")

    def __repr__(self) -> str:
        return f"BackupKey(id={self.key_id.hex()})"

    __str__ = __repr__

    @classmethod
    def generate(cls) -> BackupKey:
        return cls(secrets.token_bytes(KEY_BYTES))

    def to_base64(self) -> str:
        """For writing a new key file once; never log the result."""
        return base64.b64encode(self._key).decode()

    @classmethod
    def from_base64(cls, text: str, source: str = KEY_ENV) -> BackupKey:
        try:
            raw = base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise BackupKeyError(source, "is not valid base64 (expected 32 random bytes, base64-encoded)") from None
        if len(raw) != KEY_BYTES:
            raise BackupKeyError(source, f"decodes to {len(raw)} bytes; a backup key is {KEY_BYTES} bytes")
        return cls(raw)

    @classmethod
    def from_file(cls, path: Path) -> BackupKey:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise BackupKeyError(str(path), f"cannot read the key file ({exc.strerror})") from None
        if path.stat().st_mode & 0o077:
            log.warning("backup key file %s is readable by group/others; chmod 600 it", path)
        if len(data) == KEY_BYTES and not _looks_base64(data):
            return cls(data)
        try:
            text = data.decode("ascii")
        except UnicodeDecodeError:
            raise BackupKeyError(str(path), "is neither 32 raw bytes nor base64 text") from None
        return cls.from_base64(text, source=str(path))

    @classmethod
    def load(cls, key_file: Path | str | None = None, env: Mapping[str, str] | None = None) -> BackupKey:
        """From ``key_file``, else ``PM_BACKUP_KEY_FILE``, else ``PM_BACKUP_KEY`` (base64)."""
        env = os.environ if env is None else env
        path = key_file or env.get(KEY_FILE_ENV)
        if path:
            return cls.from_file(Path(path))
        if env.get(KEY_ENV):
            return cls.from_base64(env[KEY_ENV])
        raise BackupKeyError(
            "backup key", f"none given: pass --key-file, or set {KEY_FILE_ENV} or {KEY_ENV} (base64 of 32 bytes)"
        )

    def mac(self, data: bytes) -> str:
        """HMAC-SHA256 (hex) with the manifest sub-key."""
        return hmac.new(self._mac_key, data, hashlib.sha256).hexdigest()

    def digest(self, data: bytes) -> str:
        """Keyed SHA-256 (HMAC, hex) of a secret's canonical bytes: comparable, but useless for guessing
        low-entropy secrets offline without the key."""
        return hmac.new(self._digest_key, data, hashlib.sha256).hexdigest()

    def aead(self) -> AESGCM:
        return AESGCM(self._key)


def _looks_base64(data: bytes) -> bool:
    return all(c in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\r\n" for c in data)


class Sink(Protocol):
    def write(self, data: bytes, /) -> int: ...


@dataclass(frozen=True)
class CryptoStats:
    plaintext_bytes: int
    plaintext_sha256: str
    ciphertext_bytes: int
    ciphertext_sha256: str


def _nonce(base: bytes, index: int) -> bytes:
    return (int.from_bytes(base, "big") ^ index).to_bytes(NONCE_BYTES, "big")


def _aad(header: bytes, index: int, final: bool) -> bytes:
    return header + struct.pack(">QB", index, 1 if final else 0)


def _read_full(stream: BinaryIO, size: int) -> bytes:
    parts: list[bytes] = []
    remaining = size
    while remaining:
        part = stream.read(remaining)
        if not part:
            break
        parts.append(part)
        remaining -= len(part)
    return b"".join(parts)


def encrypt_stream(source: BinaryIO, dest: Sink, key: BackupKey, chunk_size: int = DEFAULT_CHUNK) -> CryptoStats:
    """Encrypt ``source`` into ``dest`` (format above); returns sizes and SHA-256s of both sides."""
    if not 1 <= chunk_size <= 0xFFFFFFFF - TAG_BYTES:
        raise ValueError(f"chunk_size {chunk_size} out of range")
    aead = key.aead()
    base = secrets.token_bytes(NONCE_BYTES)
    header = _HEADER.pack(MAGIC, VERSION, chunk_size, base, key.key_id)
    plain_hash, cipher_hash = hashlib.sha256(), hashlib.sha256()
    plain_bytes = 0
    dest.write(header)
    cipher_hash.update(header)
    cipher_bytes = len(header)
    current = _read_full(source, chunk_size)
    if not current:
        raise EmptyBackupError("refusing to encrypt an empty (0-byte) snapshot")
    index = 0
    while current:
        following = _read_full(source, chunk_size)
        final = not following
        sealed = aead.encrypt(_nonce(base, index), current, _aad(header, index, final))
        dest.write(sealed)
        plain_hash.update(current)
        cipher_hash.update(sealed)
        plain_bytes += len(current)
        cipher_bytes += len(sealed)
        current, index = following, index + 1
    return CryptoStats(plain_bytes, plain_hash.hexdigest(), cipher_bytes, cipher_hash.hexdigest())


def read_header(stream: BinaryIO, key: BackupKey | None = None) -> tuple[bytes, int, bytes]:
    """Parse and check the blob header; returns (header bytes, chunk size, base nonce)."""
    header = _read_full(stream, HEADER_BYTES)
    if not header:
        raise EmptyBackupError("the backup blob is empty (0 bytes)")
    if len(header) < HEADER_BYTES:
        raise DecryptionError(f"the backup blob is truncated: {len(header)} bytes, shorter than its header")
    magic, version, chunk_size, base, key_id = _HEADER.unpack(header)
    if magic != MAGIC:
        raise DecryptionError("not a backup blob (wrong magic bytes)")
    if version != VERSION:
        raise DecryptionError(f"unsupported backup format version {version} (this toolkit reads {VERSION})")
    if not 1 <= chunk_size <= 0xFFFFFFFF - TAG_BYTES:
        raise DecryptionError(f"corrupt header: chunk size {chunk_size}")
    if key is not None and not hmac.compare_digest(key_id, key.key_id):
        raise WrongKeyError(
            f"the blob was encrypted with key id {key_id.hex()}, the given key has id {key.key_id.hex()}"
        )
    return header, chunk_size, base


def decrypt_stream(source: BinaryIO, dest: Sink, key: BackupKey) -> CryptoStats:
    """Decrypt and authenticate ``source`` into ``dest``. Raises on any tampering; ``dest`` then holds
    partial plaintext that the caller must discard."""
    header, chunk_size, base = read_header(source, key)
    aead = key.aead()
    plain_hash, cipher_hash = hashlib.sha256(), hashlib.sha256()
    cipher_hash.update(header)
    plain_bytes, cipher_bytes = 0, len(header)
    sealed_size = chunk_size + TAG_BYTES
    current = _read_full(source, sealed_size)
    if not current:
        raise DecryptionError("the backup blob has a header but no data (truncated)")
    index = 0
    while current:
        following = _read_full(source, sealed_size)
        final = not following
        if len(current) <= TAG_BYTES:
            raise DecryptionError(f"chunk {index} is truncated")
        try:
            plain = aead.decrypt(_nonce(base, index), current, _aad(header, index, final))
        except InvalidTag:
            raise DecryptionError(
                f"chunk {index} failed authentication: the blob was modified, truncated or reordered"
            ) from None
        dest.write(plain)
        plain_hash.update(plain)
        cipher_hash.update(current)
        plain_bytes += len(plain)
        cipher_bytes += len(current)
        current, index = following, index + 1
    if plain_bytes == 0:
        raise EmptyBackupError("the backup decrypts to an empty snapshot")
    return CryptoStats(plain_bytes, plain_hash.hexdigest(), cipher_bytes, cipher_hash.hexdigest())


def encrypt_file(source: Path, dest: Path, key: BackupKey, chunk_size: int = DEFAULT_CHUNK) -> CryptoStats:
    with source.open("rb") as src, _private_open(dest) as out:
        return encrypt_stream(src, out, key, chunk_size)


def decrypt_file(source: Path, dest: Path, key: BackupKey) -> CryptoStats:
    try:
        with source.open("rb") as src, _private_open(dest) as out:
            return decrypt_stream(src, out, key)
    except BaseException:
        dest.unlink(missing_ok=True)
        raise


def sha256_file(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while block := handle.read(DEFAULT_CHUNK):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


def _private_open(path: Path) -> BinaryIO:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    return os.fdopen(fd, "wb")
