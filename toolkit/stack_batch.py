"""Many stack files at once, for the fleet-wide tasks (10,000 tenants): `ci.plan`'s checks, `rotate.due`, `status`.

Each file is read as ``toolkit.stack_files.load`` reads one (the YAML document's ``config:`` through
``config_from_stack_file``), with libyaml's parser where PyYAML has it: the pure-Python parser spends ~1.7 ms of
CPU on a stack file, libyaml ~0.3 ms. From ``PARALLEL_FROM`` files on, the files are read in worker processes (the
work is CPU; one process per core, at most 4), in the caller's order.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import yaml

from toolkit.errors import ConfigError
from toolkit.stack_files import stack_file
from toolkit.tenant_config import TenantConfig, config_from_stack_file

LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader, else the pure-Python one (same documents, same types)."""
PARALLEL_FROM = 2000
T = TypeVar("T")


def parse(text: str) -> Any:
    return yaml.load(text, Loader=LOADER) or {}  # noqa: S506 (a safe loader: C or Python)


def config_of(path: Path) -> TenantConfig:
    """One stack file's validated config (``ConfigError``/``yaml.YAMLError`` as ``stack_files.load`` raises)."""
    if not path.exists():
        raise ConfigError("tenant", f"no stack file {path} (create it with `invoke tenant.new`)")
    return config_from_stack_file(parse(path.read_text()))


def map_files(fn: Callable[[Path], T], files: Sequence[Path]) -> list[T]:
    """``fn`` over ``files`` in order; in worker processes from ``PARALLEL_FROM`` files (``fn`` must be a module-level
    function: it is sent to the workers by name)."""
    workers = min(4, os.cpu_count() or 1)
    if len(files) < PARALLEL_FROM or workers < 2:
        return [fn(path) for path in files]
    with ProcessPoolExecutor(workers) as pool:
        return list(pool.map(fn, files, chunksize=max(1, min(500, len(files) // (workers * 4)))))


def _load_or_problem(path: Path) -> TenantConfig | str:
    try:
        return config_of(path)
    except ConfigError as exc:
        return str(exc)
    except yaml.YAMLError as exc:
        return f"{path.name} is not valid YAML ({str(exc).splitlines()[0]})"
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror}"


def load_many(stacks_dir: Path, tenants: Sequence[str]) -> list[tuple[str, TenantConfig | str]]:
    """Each tenant's config, or the problem with its stack file as text, in the order given."""
    results = map_files(_load_or_problem, [stack_file(stacks_dir, tenant) for tenant in tenants])
    return list(zip(tenants, results, strict=True))
