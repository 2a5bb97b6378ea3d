"""Inputs that are not known yet (preview), in one place for every dynamic provider.

During a preview the engine hands a dynamic provider's ``check`` and ``diff`` the inputs it cannot compute yet
(the IP of a VPS about to be created, the public key of a key about to be rotated). The Python SDK's dynamic
provider host deserializes them with ``keep_unknowns=True`` (``pulumi/dynamic/__main__.py``, ``Check`` and
``Diff``), so they arrive as ``pulumi.output.Unknown`` objects, at the top level or anywhere inside a dict or
list. ``create`` and ``update`` always get concrete values. The wire sentinel (``pulumi.runtime.rpc.UNKNOWN``, a
UUID string) never reaches a provider method, but is recognised too so a hand-built input cannot slip through.

Rules the providers follow:
- ``check`` validates only known values (never index or ``str()`` an unknown; ``known_for_check`` helps);
- ``diff`` treats an unknown as a change: in a replace key it means replace, in an update key it means update
  (``changed_keys`` + ``diff_result``); when nothing changed it says so (``changes=False``), and it never relies
  on ``stables`` (the dynamic provider host drops them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pulumi.dynamic
from pulumi.output import Unknown
from pulumi.runtime.rpc import UNKNOWN as UNKNOWN_SENTINEL

Normalize = Callable[[dict[str, Any], str], Any]


def is_unknown(value: Any) -> bool:
    """True if ``value`` is unknown or holds an unknown anywhere inside (dicts, lists, tuples)."""
    if isinstance(value, Unknown):
        return True
    if isinstance(value, str):
        return value == UNKNOWN_SENTINEL
    if isinstance(value, Mapping):
        return any(is_unknown(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(is_unknown(v) for v in value)
    return False


def _get(props: dict[str, Any], key: str) -> Any:
    return props.get(key)


def changed_keys(olds: dict[str, Any], news: dict[str, Any], keys: Iterable[str], *,
                 value: Normalize = _get) -> list[str]:
    """The keys whose value differs between ``olds`` and ``news``; a key unknown on either side counts as changed.

    ``value(props, key)`` picks the value to compare (default ``props.get(key)``), e.g. to apply defaults."""
    changed = []
    for key in keys:
        old, new = olds.get(key), news.get(key)
        if is_unknown(old) or is_unknown(new) or value(olds, key) != value(news, key):
            changed.append(key)
    return changed


def diff_result(replaces: list[str], updates: list[str], *,
                delete_before_replace: bool | None = None) -> pulumi.dynamic.DiffResult:
    """An explicit decision: replace if any replace key changed, else update if any update key changed, else
    ``changes=False`` (never ``None``, which would let the engine compare every input itself)."""
    return pulumi.dynamic.DiffResult(changes=bool(replaces or updates), replaces=list(replaces),
                                     delete_before_replace=delete_before_replace)


def known_for_check(props: Mapping[str, Any], keys: Iterable[str]) -> bool:
    """True if none of ``keys`` is unknown in ``props`` (so a check over them may read them)."""
    return not any(is_unknown(props.get(key)) for key in keys)


Check = tuple[str, Callable[[], object]]


def known_checks(props: Mapping[str, Any], checks: Iterable[tuple[str, tuple[str, ...], Callable[[], object]]],
                 ) -> list[Check]:
    """The ``(failure_key, check)`` pairs whose inputs (the middle tuple) are all known: the others are skipped
    (they are checked again once their values are known, at the latest before create or update)."""
    return [(key, check) for key, reads, check in checks if known_for_check(props, reads)]
