"""Proof the real engine works here: up, preview (no changes), refresh and destroy on a file backend, with a
Python dynamic resource, and (where the plugin exists) a pulumi_command local Command."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest

from tests.e2e.engine import engine_bin_dir, pulumi, pulumi_env, python_project

DYNAMIC_PROGRAM = textwrap.dedent("""\
    import pathlib

    import pulumi
    import pulumi.dynamic


    class FileProvider(pulumi.dynamic.ResourceProvider):
        def create(self, props):
            pathlib.Path(props["path"]).write_text(props["text"])
            return pulumi.dynamic.CreateResult(id_=props["path"], outs=props)

        def read(self, id_, props):
            path = pathlib.Path(id_)
            if not path.exists():
                return pulumi.dynamic.ReadResult(None, {})
            return pulumi.dynamic.ReadResult(id_, {**props, "text": path.read_text()})

        def diff(self, _id, olds, news):
            return pulumi.dynamic.DiffResult(changes=olds.get("text") != news.get("text"))

        def update(self, _id, _olds, news):
            pathlib.Path(news["path"]).write_text(news["text"])
            return pulumi.dynamic.UpdateResult(outs=news)

        def delete(self, id_, _props):
            pathlib.Path(id_).unlink(missing_ok=True)


    class ManagedFile(pulumi.dynamic.Resource):
        def __init__(self, name, path, text):
            super().__init__(FileProvider(), name, {"path": path, "text": text})


    config = pulumi.Config()
    managed = ManagedFile("greeting", config.require("path"), "hello from the real engine")
    pulumi.export("path", managed.id)
""")

COMMAND_PROGRAM = textwrap.dedent("""\
    import pulumi
    from pulumi_command import local

    echo = local.Command("echo", create="echo created", delete="true")
    pulumi.export("stdout", echo.stdout)
""")


def test_dynamic_resource_up_preview_refresh_destroy(tmp_path: Path) -> None:
    project = python_project(tmp_path / "project", "pm-engine-proof", DYNAMIC_PROGRAM)
    env = pulumi_env(tmp_path / "state")
    (tmp_path / "state").mkdir()
    target = tmp_path / "managed.txt"
    pulumi(project, env, "stack", "init", "proof")
    pulumi(project, env, "config", "set", "path", str(target))

    pulumi(project, env, "up", "--yes", "--skip-preview")
    assert target.read_text() == "hello from the real engine"
    outputs = json.loads(pulumi(project, env, "stack", "output", "--json").stdout)
    assert outputs["path"] == str(target)

    pulumi(project, env, "preview", "--expect-no-changes")

    target.write_text("changed behind pulumi's back")
    pulumi(project, env, "refresh", "--yes", "--skip-preview")
    drift = pulumi(project, env, "preview", "--expect-no-changes", check=False)
    assert drift.returncode != 0, "refresh should have recorded the drift, so preview wants to fix it"
    pulumi(project, env, "up", "--yes", "--skip-preview")
    assert target.read_text() == "hello from the real engine"

    pulumi(project, env, "destroy", "--yes", "--skip-preview")
    assert not target.exists()
    state = json.loads(pulumi(project, env, "stack", "export").stdout)
    assert not [r for r in state["deployment"].get("resources") or [] if r["type"].startswith("pulumi-python")]


def test_local_command_up_preview_refresh_destroy(tmp_path: Path) -> None:
    bin_dir = engine_bin_dir()
    if not (bin_dir / "pulumi-resource-command").exists() and not shutil.which("pulumi-resource-command"):
        # Recorded, measured limitation (not a silent skip): the Go module proxy answers 403 for every version
        # of github.com/pulumi/pulumi-command/provider, and no registry here ships the binary. The product does
        # not depend on it: remote steps run through Python dynamic providers over paramiko.
        reason = (
            "pulumi-resource-command is not installable here: the Go module proxy refuses "
            "github.com/pulumi/pulumi-command/provider@v0.0.0-20260303235922-7f3eb6f3b77c (HTTP 403)"
        )
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    project = python_project(tmp_path / "project", "pm-command-proof", COMMAND_PROGRAM)
    env = pulumi_env(tmp_path / "state")
    (tmp_path / "state").mkdir()
    pulumi(project, env, "stack", "init", "proof")
    pulumi(project, env, "up", "--yes", "--skip-preview")
    assert json.loads(pulumi(project, env, "stack", "output", "--json").stdout)["stdout"] == "created"
    pulumi(project, env, "preview", "--expect-no-changes")
    pulumi(project, env, "refresh", "--yes", "--skip-preview")
    pulumi(project, env, "destroy", "--yes", "--skip-preview")
