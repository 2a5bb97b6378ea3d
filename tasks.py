"""invoke entry point: assembles the task namespaces. Tasks only orchestrate; logic lives in the packages.

    invoke --list                 every task
    invoke sandbox.up|down|status the local sandbox
    invoke tenant.new             scaffold a tenant stack
"""

from __future__ import annotations

import importlib

from invoke import Collection

namespace = Collection()
for _name, _module_name in (
    ("sandbox", "sandbox"), ("tenant", "tenant"), ("dns", "dns"), ("apikey", "apikey"), ("vault", "vault"),
    ("dr", "dr"), ("ci", "ci"), ("demo", "demo"), ("status", "status"), ("rotate", "rotate"), ("ssh", "ssh"),
):
    namespace.add_collection(Collection.from_module(importlib.import_module(f"tasks_lib.{_module_name}")), name=_name)
