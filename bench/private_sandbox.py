"""A private sandbox (free ports, temporary state) with a throwaway tenant project, for benchmarks that drive the
real engine. Everything it started is stopped on exit."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sandbox.environment import Sandbox
from sandbox.settings import SandboxSettings
from tests.fixtures.tenant import TenantProject
from toolkit.net import free_port, free_port_block


@contextmanager
def private_project() -> Iterator[TenantProject]:
    """A tenant project on a sandbox of its own (its environment: ``project.sandbox_env``)."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = SandboxSettings(root=Path(tmp) / "sbx", vault_port=free_port(), raft_base_port=free_port_block(2),
                                   dns_port=free_port(), hostwinds_port=free_port())
        sandbox = Sandbox.default(settings)
        env = sandbox.up()
        try:
            yield TenantProject(Path(tmp) / "project", settings, env)
        finally:
            sandbox.down()
