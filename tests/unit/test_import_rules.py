"""The layer rules, read from the source (every import statement, lazy ones inside functions included):

- product code never imports ``sandbox/`` (only the sandbox itself, tests, benchmarks and the two tasks that drive
  the sandbox: ``tasks_lib/sandbox.py``, ``tasks_lib/demo.py``);
- ``fleet/`` never imports ``components/`` or ``tasks_lib/`` (the program and the tasks build on fleet, not the other
  way round);
- the adapter packages (one per outside system, plain typed Python) never import Pulumi.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOT_PRODUCT_DIRS = ("sandbox", "tests", "bench", "scripts", ".venv", ".sandbox", "pm_mail_infra.egg-info")
SANDBOX_DRIVERS = ("tasks_lib/sandbox.py", "tasks_lib/demo.py")
ADAPTERS = ("hostwinds", "vault", "mailu", "dnsrecords", "toolkit", "hostops")

# Emptied (issue 12/14): the drill's scratch Vault is vault.server, the tasks read settings through toolkit.connection.
# Nothing may be added to it.
KNOWN_SANDBOX_IMPORTS: frozenset[str] = frozenset()


def _python_files() -> Iterator[Path]:
    for path in sorted(ROOT.rglob("*.py")):
        relative = path.relative_to(ROOT)
        if relative.parts[0] in NOT_PRODUCT_DIRS or any(part.startswith(".") for part in relative.parts):
            continue
        yield relative


def _module_of(relative: Path) -> list[str]:
    parts = list(relative.with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def imported_modules(relative: Path, source: str | None = None) -> set[str]:
    """Every module ``relative`` imports, anywhere in the file; relative imports resolved against its package."""
    tree = ast.parse((ROOT / relative).read_text() if source is None else source, str(relative))
    package = _module_of(relative) if relative.name == "__init__.py" else _module_of(relative)[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.add(module)
            if not node.module:  # ``from . import x``: x is a module of the package
                found |= {f"{module}.{alias.name}" for alias in node.names}
    return found


def _top(module: str) -> str:
    return module.split(".", 1)[0]


def _violations(rule: str) -> list[str]:
    out: list[str] = []
    for relative in _python_files():
        name = relative.as_posix()
        tops = {module: _top(module) for module in imported_modules(relative)}
        if rule == "sandbox" and name not in SANDBOX_DRIVERS and name not in KNOWN_SANDBOX_IMPORTS:
            out += [f"{name} imports {m}" for m, top in tops.items() if top == "sandbox"]
        if rule == "fleet" and relative.parts[0] == "fleet":
            out += [f"{name} imports {m}" for m, top in tops.items() if top in ("components", "tasks_lib")]
        if rule == "pulumi" and relative.parts[0] in ADAPTERS:
            out += [f"{name} imports {m}" for m, top in tops.items() if top == "pulumi" or top.startswith("pulumi_")]
    return sorted(out)


def test_the_scan_sees_the_product_code() -> None:
    files = {p.as_posix() for p in _python_files()}
    assert {"fleet/status.py", "vault/client.py", "components/tenant.py", "tasks_lib/demo.py", "__main__.py"} <= files
    assert not any(f.startswith(("sandbox/", "tests/", "bench/")) for f in files)
    assert "pulumi" in {_top(m) for m in imported_modules(Path("components/tenant.py"))}


@pytest.mark.parametrize(("rule", "what"), [
    ("sandbox", "product code imports sandbox/ (a test helper): move what it needs into the product package"),
    ("fleet", "fleet/ imports components/ or tasks_lib/: fleet is plain Python under both"),
    ("pulumi", "an adapter package imports Pulumi: adapters are plain Python, components wrap them"),
])
def test_layer_rule(rule: str, what: str) -> None:
    assert _violations(rule) == [], what


def test_lazy_and_relative_imports_are_seen() -> None:
    source = "def f():\n    from ..net import free_port\n    from . import openbao\n    import pulumi.dynamic\n"
    assert imported_modules(Path("sandbox/x/y.py"), source) == {"sandbox.net", "sandbox.x", "sandbox.x.openbao",
                                                               "pulumi.dynamic"}
    assert imported_modules(Path("vault/backup/__init__.py"), "from . import drill\n") == {
        "vault.backup", "vault.backup.drill"}
