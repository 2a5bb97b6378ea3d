"""invoke entry point: assembles the task namespaces, one module of tasks_lib/ each (``NAMESPACES``).

A task reads its options and the connection settings (``toolkit.connection``: options, then the environment, then
.sandbox/env), calls the packages, prints the result and writes the audit event (``fleet.audit``). The logic lives
in the packages: ``fleet/`` (operations across systems: status, day-2 intent and ``pulumi up`` through
``fleet.stack_engine``, migration, verification), ``pipeline/`` (CI), ``vault/``, ``hostwinds/``, ``mailu/``,
``dnsrecords/``, ``toolkit/``; only ``sandbox.*`` and ``demo`` use ``sandbox/``. Log records are scrubbed of
secrets before any handler sees them (``toolkit.redact``).

    invoke --list                 every task
    invoke demo                   the main job on the sandbox
    invoke sandbox.up|down|status the local sandbox
"""

from __future__ import annotations

import importlib

from invoke.collection import Collection

from tasks_lib import options
from toolkit.redact import install_logging_redaction

install_logging_redaction()  # no secret reaches a log line, whoever logs it
options.install()  # a bad option value is one message naming the option, not a traceback

NAMESPACES = ("sandbox", "demo", "tenant", "dns", "apikey", "vault", "dr", "rotate", "ssh", "smtp", "status", "ci",
              "hostwinds")

namespace = Collection()
for _name in NAMESPACES:
    namespace.add_collection(Collection.from_module(importlib.import_module(f"tasks_lib.{_name}")), name=_name)
