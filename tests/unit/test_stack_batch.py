"""Many stack files at once (``toolkit.stack_batch``): the same configs and problems as the one reader
(``toolkit.stack_files.load``), in the caller's order, in worker processes for a large fleet."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from toolkit import stack_batch, stack_files
from toolkit.errors import ConfigError


def _write(stacks: Path, tenant: str, **overrides: object) -> None:
    values = {"tenant_id": tenant, "domain": f"{tenant}.sandbox.test", "dkim_selector": "pm20261125",
              "dns": {"provider": "rfc2136", "server": "127.0.0.1", "zone": "sandbox.test", "tsig_key_name": "k"},
              **overrides}
    stacks.mkdir(exist_ok=True)
    (stacks / f"Pulumi.{tenant}.yaml").write_text(yaml.safe_dump({"config": {f"pm:{k}": v
                                                                              for k, v in values.items()}}))


@pytest.mark.parametrize("parallel_from", [2000, 2])  # in this process, and in worker processes
def test_configs_and_problems_match_the_one_reader(tmp_path: Path, parallel_from: int,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stack_batch, "PARALLEL_FROM", parallel_from)
    stacks = tmp_path / "stacks"
    for tenant in ("acme", "beta", "gamma"):
        _write(stacks, tenant, ttl=300)
    _write(stacks, "bad", ttl=-5)
    (stacks / "Pulumi.broken.yaml").write_text("config: [\n")
    names = ["gamma", "bad", "acme", "broken", "missing", "beta"]
    loaded = dict(stack_batch.load_many(stacks, names))
    assert [name for name, _ in stack_batch.load_many(stacks, names)] == names
    for tenant in ("acme", "beta", "gamma"):
        assert loaded[tenant] == stack_files.load(stacks, tenant)
    with pytest.raises(ConfigError) as bad:
        stack_files.load(stacks, "bad")
    assert loaded["bad"] == str(bad.value)
    assert loaded["broken"] == "Pulumi.broken.yaml is not valid YAML (while parsing a flow node)"
    assert isinstance(loaded["missing"], str) and "no stack file" in loaded["missing"]
