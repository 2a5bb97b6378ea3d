"""Test configuration shared by every layer.

Markers: ``unit`` (no servers), ``integration`` (real servers started by tests/fixtures), ``e2e`` (real Pulumi engine).
A test module's layer follows its folder: tests/unit, tests/integration, tests/e2e are marked automatically.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = [
    "tests.fixtures.openbao",
    "tests.fixtures.dns",
    "tests.fixtures.hostwinds",
    "tests.fixtures.ssh",
    "tests.fixtures.mailu",
    "tests.fixtures.backup",
    "tests.fixtures.tenant",
]

_LAYERS = ("unit", "integration", "e2e", "security")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.fspath)).parts
        for layer in _LAYERS:
            if layer in parts:
                item.add_marker(getattr(pytest.mark, layer))
