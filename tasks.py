"""invoke entry point: assembles the task namespaces. Tasks only orchestrate; logic lives in the packages.

    invoke --list                 every task
    invoke sandbox.up|down|status the local sandbox
"""

from __future__ import annotations

import importlib

from invoke import Collection

namespace = Collection()
for _name in ("sandbox", "tenant", "dns", "apikey", "ci"):
    try:
        _module = importlib.import_module(f"tasks_lib.{_name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"tasks_lib.{_name}":
            raise
        continue
    namespace.add_collection(Collection.from_module(_module), name=_name)
