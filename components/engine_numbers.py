"""Numbers as the engine hands them to a dynamic provider: every number is a double, so an input given as ``1``
comes back as ``1.0`` (and ``50000000`` as ``50000000.0``). ``whole_numbers`` turns them back, once, where the
provider reads its inputs, so the plain packages behind it see the ints they were given."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def whole_numbers(value: Any) -> Any:
    """``value`` with every float that is a whole number made an int, inside dicts, lists and tuples too
    (``True`` stays a bool, ``1.5`` stays a float)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {key: whole_numbers(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(whole_numbers(item) for item in value)
    return value
