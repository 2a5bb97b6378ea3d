"""Read and write tenant stack files (``stacks/Pulumi.<tenant>.yaml``): the one reader and the one writer.

Every write goes through :func:`edit` (``create`` and ``write_config`` too): it sets or removes only the ``pm:`` keys
it is told, keeps everything else byte for byte (comments, key order, quoting and types of untouched values,
``encryptionsalt``, other namespaces, ``secure:`` values), validates the resulting ``pm:`` config with the one model
(``toolkit.tenant_config``) before anything is written, writes atomically (temp file in the same directory, fsync,
rename, same mode as before), refuses a symlink, and writes nothing when nothing changes.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from toolkit.errors import ConfigError
from toolkit.tenant_config import CONFIG_NAMESPACE, TenantConfig, config_from_stack_file, parse_tenant_config
from toolkit.yaml_edit import YamlDocument, YamlEditError

NEW_FILE_MODE = 0o644  # stack files hold no secrets (they come from the environment) and are committed
_replace = os.replace  # the rename that commits a write (tests make it fail to show the original survives)


class StackFileError(ConfigError):
    """A stack file cannot be written safely (symlink, changed underneath, not YAML, would change other keys)."""


@dataclass(frozen=True)
class StackWrite:
    path: Path
    config: TenantConfig
    """The validated ``pm:`` config the file holds now."""
    changed: bool
    """False when the file already held these values (nothing was written)."""


def stack_file(stacks_dir: Path, tenant: str) -> Path:
    return stacks_dir / f"Pulumi.{tenant}.yaml"


def load(stacks_dir: Path, tenant: str) -> TenantConfig:
    path = stack_file(stacks_dir, tenant)
    if not path.exists():
        raise ConfigError("tenant", f"no stack file {path} (create it with `invoke tenant.new`)")
    return config_from_stack_file(yaml.safe_load(path.read_text()) or {})


def edit(stacks_dir: Path, tenant: str, changes: Mapping[str, Any]) -> StackWrite:
    """Set ``pm:`` keys (``"ttl"``, or a dotted path into a map: ``"hostwinds.vps_generation"``); None removes."""
    path = stack_file(stacks_dir, tenant)
    return _write(path, lambda doc: _apply(doc, changes), must_exist=True)


def write_config(stacks_dir: Path, config: TenantConfig) -> StackWrite:
    """Make the file hold ``config`` by editing only the settings (and map entries) that differ from it."""
    return edit(stacks_dir, config.tenant_id, config_changes(load(stacks_dir, config.tenant_id), config))


def create(stacks_dir: Path, raw: dict[str, Any], overwrite: bool = False) -> Path:
    """Validate ``raw`` and write the stack file; refuses to overwrite an existing tenant unless asked.

    Overwriting replaces every ``pm:`` key and keeps what is not ours (``encryptionsalt``, other namespaces)."""
    config = parse_tenant_config(raw)
    path = stack_file(stacks_dir, config.tenant_id)
    if (path.exists() or path.is_symlink()) and not overwrite:
        raise ConfigError("tenant", f"{path} already exists (pass --force to overwrite)")
    values = {k: v for k, v in config.model_dump(mode="json", exclude_none=True).items() if v != ""}
    # (an empty string is "not set": the program refuses empty values, the model's default applies)

    def scaffold(doc: YamlDocument) -> None:
        for key in list(doc.get(("config",)) or {}):
            name = str(key).partition(":")[2]
            if str(key).startswith(f"{CONFIG_NAMESPACE}:") and name not in values:
                doc.remove(("config", str(key)))
        _apply(doc, values)

    stacks_dir.mkdir(parents=True, exist_ok=True)
    return _write(path, scaffold, must_exist=False, header=_header(config)).path


def config_changes(current: BaseModel, target: BaseModel, prefix: str = "") -> dict[str, Any]:
    """The edits that turn ``current`` into ``target``: changed fields only, nested settings per entry."""
    changes: dict[str, Any] = {}
    for name in type(target).model_fields:
        old, new = getattr(current, name), getattr(target, name)
        if old == new:
            continue
        if isinstance(old, BaseModel) and isinstance(new, BaseModel) and type(old) is type(new):
            changes.update(config_changes(old, new, f"{prefix}{name}."))
        elif new is None:
            changes[prefix + name] = None
        else:
            changes[prefix + name] = target.model_dump(mode="json", include={name})[name]
    return changes


# ---------------------------------------------------------------------------------------------------- internals
def _header(config: TenantConfig) -> str:
    return (
        f"# Tenant {config.tenant_id}: one Pulumi stack. Keys under `{CONFIG_NAMESPACE}:` are validated before\n"
        "# anything is created (toolkit/tenant_config.py). Secrets never go here: the Hostwinds API key, the TSIG\n"
        "# secret and Vault credentials come from the environment.\n"
    )


def _apply(doc: YamlDocument, changes: Mapping[str, Any]) -> None:
    for name, value in changes.items():
        head, *rest = name.split(".")
        path = ("config", f"{CONFIG_NAMESPACE}:{head}", *rest)
        if value is None:
            doc.remove(path)
        else:
            ours = [k for k in (doc.get(("config",)) or {}) if str(k).startswith(f"{CONFIG_NAMESPACE}:")]
            after = str(ours[-1]) if ours else None
            if rest and doc.get(path[:2]) is None:
                doc.set(path[:2], {}, after=after)  # a new settings map goes with the other pm: keys
            doc.set(path, value, after=after)


def _outside_pm(data: Any) -> dict[str, Any]:
    """Everything a ``pm:`` edit must leave alone: top-level keys and the other namespaces' config."""
    data = data if isinstance(data, dict) else {}
    config = data.get("config") if isinstance(data.get("config"), dict) else {}
    return {**{k: v for k, v in data.items() if k != "config"},
            "config": {k: v for k, v in (config or {}).items() if not str(k).startswith(f"{CONFIG_NAMESPACE}:")}}


def _write(path: Path, change: Callable[[YamlDocument], None], *, must_exist: bool, header: str = "") -> StackWrite:
    if path.is_symlink():
        raise StackFileError(str(path), "is a symlink; refusing to write through it (replace it with a file)")
    before: os.stat_result | None = None
    text = ""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        if must_exist:
            raise ConfigError("tenant", f"no stack file {path} (create it with `invoke tenant.new`)") from None
    except OSError as exc:
        raise StackFileError(str(path), f"cannot be opened: {exc.strerror}") from None
    else:
        with os.fdopen(fd, "rb") as handle:
            before = os.fstat(handle.fileno())
            if not stat.S_ISREG(before.st_mode):
                raise StackFileError(str(path), "is not a regular file")
            text = handle.read().decode("utf-8")
    try:
        doc = YamlDocument(text, source=str(path))
        change(doc)
        new_text = doc.text() if before is not None else header + doc.text()
    except YamlEditError as exc:
        raise StackFileError(exc.field, exc.problem) from None
    new_data = yaml.safe_load(new_text) or {}
    config = config_from_stack_file(new_data)  # the one validation, on exactly what the next reader will read
    if _outside_pm(new_data) != _outside_pm(yaml.safe_load(text) or {}):
        raise StackFileError(str(path), "the edit would change keys outside `pm:`; nothing written")
    if before is not None and new_text == text:
        return StackWrite(path, config, changed=False)
    _atomic_write(path, new_text.encode("utf-8"), before)
    return StackWrite(path, config, changed=True)


def _atomic_write(path: Path, data: bytes, before: os.stat_result | None) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), stat.S_IMODE(before.st_mode) if before else NEW_FILE_MODE)
            if before is not None and (before.st_uid, before.st_gid) != (os.geteuid(), os.getegid()):
                with contextlib.suppress(PermissionError):
                    os.fchown(handle.fileno(), before.st_uid, before.st_gid)
            os.fsync(handle.fileno())
        _check_unchanged(path, before)
        _replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _check_unchanged(path: Path, before: os.stat_result | None) -> None:
    """Refuse to replace a file someone else wrote (or a symlink someone put) since it was read."""
    try:
        now = os.lstat(path)
    except FileNotFoundError:
        now = None
    seen = None if before is None else (before.st_ino, before.st_size, before.st_mtime_ns)
    if (None if now is None else (now.st_ino, now.st_size, now.st_mtime_ns)) != seen:
        raise StackFileError(str(path), "changed while it was being edited; nothing written (run again)")
