"""invoke entry point: assembles the task namespaces, one module of tasks_lib/ each. Tasks only orchestrate;
the logic lives in the packages (fleet/, vault/, hostwinds/, mailu/, dnsrecords/, pipeline/, sandbox/).

    invoke --list                 every task
    invoke demo                   the main job on the sandbox
    invoke sandbox.up|down|status the local sandbox
"""

from __future__ import annotations

import importlib

from invoke.collection import Collection

from tasks_lib import options

options.install()  # a bad option value is one message naming the option, not a traceback

NAMESPACES = ("sandbox", "demo", "tenant", "dns", "apikey", "vault", "dr", "rotate", "ssh", "smtp", "status", "ci",
              "hostwinds")

namespace = Collection()
for _name in NAMESPACES:
    namespace.add_collection(Collection.from_module(importlib.import_module(f"tasks_lib.{_name}")), name=_name)
