"""Backup destinations with one interface: a local directory or S3-compatible object storage.

Object names are flat (``vault-<stamp>.snap.enc``); they are validated so nothing escapes the directory or
prefix. Local writes go to a temporary file then ``os.replace`` (atomic); files are mode 0600.
S3 uses boto3's managed transfer (multipart for large blobs); credentials come from the usual AWS variables
(``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` or a profile), the endpoint from ``--s3-endpoint``.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Protocol

from vault.backup.errors import BackupNotFound, StoreError

_OBJECT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")


def check_name(name: str) -> str:
    if not _OBJECT.fullmatch(name) or ".." in name:
        raise StoreError(f"{name!r} is not a valid backup object name")
    return name


class BackupStore(Protocol):
    """Where backups live. Implementations: ``LocalStore``, ``S3Store``."""

    @property
    def description(self) -> str: ...

    def put(self, name: str, source: Path) -> None: ...

    def put_bytes(self, name: str, data: bytes) -> None: ...

    def get(self, name: str, dest: Path) -> None: ...

    def get_bytes(self, name: str) -> bytes: ...

    def list(self) -> list[str]: ...

    def size(self, name: str) -> int: ...

    def delete(self, name: str) -> None: ...


class LocalStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @property
    def description(self) -> str:
        return str(self.root)

    def _path(self, name: str) -> Path:
        return self.root / check_name(name)

    def _ensure(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)

    def put(self, name: str, source: Path) -> None:
        self._ensure()
        with source.open("rb") as src:
            self._write(name, lambda out: shutil.copyfileobj(src, out, 1024 * 1024))

    def put_bytes(self, name: str, data: bytes) -> None:
        self._ensure()
        self._write(name, lambda out: out.write(data))

    def _write(self, name: str, fill: Any) -> None:
        target = self._path(name)
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=self.root)
        try:
            with os.fdopen(fd, "wb") as out:
                fill(out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, name: str, dest: Path) -> None:
        try:
            shutil.copyfile(self._path(name), dest)
        except FileNotFoundError:
            raise BackupNotFound(f"{name} is not in {self.root}") from None

    def get_bytes(self, name: str) -> bytes:
        try:
            return self._path(name).read_bytes()
        except FileNotFoundError:
            raise BackupNotFound(f"{name} is not in {self.root}") from None

    def list(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_file() and not p.name.startswith("."))

    def size(self, name: str) -> int:
        try:
            return self._path(name).stat().st_size
        except FileNotFoundError:
            raise BackupNotFound(f"{name} is not in {self.root}") from None

    def delete(self, name: str) -> None:
        self._path(name).unlink(missing_ok=True)


class S3Store:
    """An S3 bucket and key prefix (``s3://bucket/prefix``) on AWS or any S3-compatible endpoint."""

    def __init__(self, bucket: str, prefix: str = "", *, endpoint_url: str | None = None,
                 client: Any = None, region: str | None = None) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint_url = endpoint_url
        self.client = client or boto3.client(
            "s3", endpoint_url=endpoint_url,
            region_name=region or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
            config=Config(retries={"max_attempts": 5, "mode": "standard"}),
        )

    @property
    def description(self) -> str:
        where = f" at {self.endpoint_url}" if self.endpoint_url else ""
        return f"s3://{self.bucket}/{self.prefix}{where}"

    def _key(self, name: str) -> str:
        check_name(name)
        return f"{self.prefix}/{name}" if self.prefix else name

    def _call(self, what: str, name: str, op: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return op()
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("404", "NoSuchKey", "NotFound"):
                raise BackupNotFound(f"{name} is not in {self.description}") from None
            raise StoreError(f"{what} {name} in {self.description}: {code or exc}") from None
        except (BotoCoreError, OSError) as exc:
            raise StoreError(f"{what} {name} in {self.description}: {exc}") from None

    def put(self, name: str, source: Path) -> None:
        self._call("upload", name, lambda: self.client.upload_file(str(source), self.bucket, self._key(name)))

    def put_bytes(self, name: str, data: bytes) -> None:
        self._call("upload", name, lambda: self.client.put_object(Bucket=self.bucket, Key=self._key(name), Body=data))

    def get(self, name: str, dest: Path) -> None:
        self._call("download", name, lambda: self.client.download_file(self.bucket, self._key(name), str(dest)))

    def get_bytes(self, name: str) -> bytes:
        reply = self._call("download", name, lambda: self.client.get_object(Bucket=self.bucket, Key=self._key(name)))
        return bytes(reply["Body"].read())

    def list(self) -> list[str]:
        prefix = f"{self.prefix}/" if self.prefix else ""

        def collect() -> list[str]:
            names: list[str] = []
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    rest = str(item["Key"])[len(prefix):]
                    if rest and "/" not in rest:
                        names.append(rest)
            return sorted(names)

        result: list[str] = self._call("list", prefix or "/", collect)
        return result

    def size(self, name: str) -> int:
        reply = self._call("stat", name, lambda: self.client.head_object(Bucket=self.bucket, Key=self._key(name)))
        return int(reply["ContentLength"])

    def delete(self, name: str) -> None:
        self._call("delete", name, lambda: self.client.delete_object(Bucket=self.bucket, Key=self._key(name)))


def open_store(dest: str | Path, *, s3_endpoint: str | None = None) -> BackupStore:
    """``s3://bucket/prefix`` -> ``S3Store``; anything else is a local directory."""
    text = str(dest)
    if text.startswith("s3://"):
        bucket, _, prefix = text[len("s3://"):].partition("/")
        if not bucket:
            raise StoreError(f"{text!r}: an S3 destination looks like s3://bucket/prefix")
        return S3Store(bucket, prefix, endpoint_url=s3_endpoint)
    return LocalStore(Path(text).expanduser())
