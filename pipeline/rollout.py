"""Progressive rollout: deploy stage after stage (``pipeline.waves``), halt when a stage's failures exceed the
threshold, say what was and was not deployed, and resume after the last completed stage when run again.

**The progress record lives in Vault**, one KV record per stage at ``vps/_fleet/rollouts/<rollout id>/<stage>``
(``ok``: stacks deployed, ``failed``: stack -> first error line, ``closed``: the stage's verdict). Why Vault and not
a file in the Pulumi backend: the deploy jobs already log in to Vault (OIDC, ``system`` policy, which may create and
update ``vps/data/*``) and every deploy needs Vault anyway, while the production backend is an S3 bucket this code
would need a second client and credentials for (and a ``file://`` backend on a CI runner dies with the runner);
Vault's check-and-set lets up to 64 shard jobs of one stage report into the same record without losing an update;
KV versions keep the history. The ``_fleet`` folder cannot be a tenant (tenant ids start with a letter or digit),
and tenants' policies reach only their own folder.

A stage is *complete* when every stack in it has an outcome. Its verdict: a canary stage halts on any failure, a
wave halts when ``failed / size`` exceeds ``max_failure_ratio``; a halted or incomplete stage stops the rollout.
Running the same rollout again skips completed stages, and inside an unfinished stage deploys only the stacks that
have not succeeded yet.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pipeline.deploy import StackResult
from pipeline.waves import Stage
from toolkit.errors import ToolkitError
from vault import kv, paths
from vault.client import VaultClient
from vault.errors import CasConflict, SecretNotFound

ROOT = "_fleet/rollouts"
ERROR_CHARS = 400
CAS_ATTEMPTS = 30
DEFAULT_MAX_FAILURE_RATIO = 0.05

Deploy = Callable[[list[str]], list[StackResult]]


class RolloutError(ToolkitError):
    """The rollout's progress record could not be read or written."""


@dataclass
class StageRecord:
    ok: set[str] = field(default_factory=set)
    failed: dict[str, str] = field(default_factory=dict)
    closed: dict[str, Any] | None = None
    version: int = 0

    @property
    def completed(self) -> bool:
        return bool(self.closed) and self.closed.get("state") == "completed"  # type: ignore[union-attr]

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"ok": sorted(self.ok), "failed": dict(sorted(self.failed.items()))}
        if self.closed:
            data["closed"] = self.closed
        return data


@dataclass(frozen=True)
class Verdict:
    stage: str
    size: int
    ok: int
    failed: int
    missing: int
    halted: bool
    reason: str

    @property
    def ratio(self) -> float:
        return self.failed / self.size if self.size else 0.0


class RolloutRecord:
    """The progress record of one rollout in Vault (``paths.VPS_MOUNT``, ``_fleet/rollouts/<id>/<stage>``)."""

    def __init__(self, vault: VaultClient, rollout: str) -> None:
        self.vault = vault
        self.rollout = rollout

    def _path(self, stage: str) -> paths.SecretPath:
        return paths.SecretPath(paths.VPS_MOUNT, f"{ROOT}/{self.rollout}/{stage}")

    def stage(self, name: str) -> StageRecord:
        try:
            secret = kv.read(self.vault, self._path(name))
        except SecretNotFound:
            return StageRecord()
        except ToolkitError as exc:
            raise RolloutError(f"cannot read the progress of stage {name} of rollout {self.rollout}: {exc}") from None
        data = secret.data
        return StageRecord(set(data.get("ok") or ()), dict(data.get("failed") or {}), data.get("closed") or None,
                           secret.version)

    def _update(self, name: str, change: Callable[[StageRecord], None]) -> StageRecord:
        """Read, change, write with check-and-set; another job's write in between means read again."""
        for _ in range(CAS_ATTEMPTS):
            record = self.stage(name)
            change(record)
            try:
                record.version = kv.write(self.vault, self._path(name), record.to_data(), cas=record.version)
                return record
            except CasConflict:
                continue
            except ToolkitError as exc:
                raise RolloutError(f"cannot record stage {name} of rollout {self.rollout}: {exc}") from None
        raise RolloutError(f"stage {name} of rollout {self.rollout}: the record kept changing underneath "
                           f"({CAS_ATTEMPTS} attempts)")

    def report(self, name: str, results: Iterable[StackResult]) -> StageRecord:
        outcomes = list(results)

        def merge(record: StageRecord) -> None:
            for result in outcomes:
                if result.ok:
                    record.ok.add(result.stack)
                    record.failed.pop(result.stack, None)
                else:
                    record.ok.discard(result.stack)
                    record.failed[result.stack] = _first_error(result.error)

        return self._update(name, merge)

    def close(self, verdict: Verdict, now: dt.datetime) -> None:
        def write(record: StageRecord) -> None:
            record.closed = {"state": "halted" if verdict.halted else "completed", "reason": verdict.reason,
                             "at": now.isoformat(timespec="seconds")}

        self._update(verdict.stage, write)


_EXCEPTION = re.compile(r"\b[A-Z]\w*(?:Error|Exception)\b: \S")


def _first_error(error: str | None) -> str:
    """The line that says why: an exception's message, else the first engine error that is not the start of a
    traceback, else the first line."""
    lines = [line.strip() for line in (error or "failed").splitlines() if line.strip()] or ["failed"]
    exception = [line for line in lines if _EXCEPTION.search(line)]
    engine = [line for line in lines if "error:" in line.lower() and "traceback" not in line.lower()]
    return (exception or engine or lines)[0][:ERROR_CHARS]


def judge(stage: Stage, record: StageRecord, max_failure_ratio: float = DEFAULT_MAX_FAILURE_RATIO) -> Verdict:
    size = len(stage.stacks)
    ok = sum(1 for s in stage.stacks if s in record.ok)
    failed = sum(1 for s in stage.stacks if s in record.failed)
    missing = size - ok - failed
    limit = 0.0 if stage.canary else max_failure_ratio
    if missing:
        return Verdict(stage.name, size, ok, failed, missing, True,
                       f"{missing} stack(s) have no result (a deploy job did not finish): run the stage again")
    if failed / size > limit:
        what = "a canary failed" if stage.canary else f"{failed}/{size} failed, more than {limit:.0%}"
        return Verdict(stage.name, size, ok, failed, 0, True, what)
    note = f" ({failed} failed, within {limit:.0%})" if failed else ""
    return Verdict(stage.name, size, ok, failed, 0, False, f"completed{note}")


def deploy_stage(record: RolloutRecord, stage: Stage, stacks: Sequence[str], deploy: Deploy) -> list[StackResult]:
    """Deploy ``stacks`` (a stage, or one shard of it) except those already deployed in an earlier run; record each
    outcome. A failed stack is reported, not raised: the stage's verdict decides."""
    done = record.stage(stage.name).ok
    todo = [s for s in stacks if s not in done]
    results = deploy(todo) if todo else []
    if results:
        record.report(stage.name, results)
    return results


def close_stage(record: RolloutRecord, stage: Stage, now: dt.datetime,
                max_failure_ratio: float = DEFAULT_MAX_FAILURE_RATIO) -> Verdict:
    current = record.stage(stage.name)
    if current.completed:
        return replace(judge(stage, current, max_failure_ratio), halted=False, reason="completed by an earlier run")
    verdict = judge(stage, current, max_failure_ratio)
    record.close(verdict, now)
    return verdict


@dataclass
class Summary:
    rollout: str
    verdicts: list[Verdict]
    deployed: list[str]
    failed: dict[str, str]
    not_deployed: list[str]
    skipped: list[str] = field(default_factory=list)
    """Stages completed by an earlier run and not deployed again."""

    @property
    def halted(self) -> Verdict | None:
        return next((v for v in self.verdicts if v.halted), None)

    @property
    def ok(self) -> bool:
        return self.halted is None and not self.failed and not self.not_deployed


def summarize(record: RolloutRecord, stages: Sequence[Stage], verdicts: Sequence[Verdict],
              skipped: Sequence[str] = ()) -> Summary:
    deployed: list[str] = []
    failed: dict[str, str] = {}
    for stage in stages:
        current = record.stage(stage.name)
        deployed += [s for s in stage.stacks if s in current.ok]
        failed.update({s: current.failed[s] for s in stage.stacks if s in current.failed})
    every = [s for stage in stages for s in stage.stacks]
    not_deployed = [s for s in every if s not in set(deployed) and s not in failed]
    return Summary(record.rollout, list(verdicts), deployed, failed, not_deployed, list(skipped))


def run_rollout(record: RolloutRecord, stages: Sequence[Stage], deploy: Deploy, *, now: Callable[[], dt.datetime],
                max_failure_ratio: float = DEFAULT_MAX_FAILURE_RATIO,
                on_verdict: Callable[[Verdict], None] | None = None) -> Summary:
    """Every stage in order in this process (an operator, a small fleet, the tests); CI runs the same steps as
    shard jobs (``deploy_stage`` on a slice) and a gate job (``close_stage``) per stage."""
    verdicts: list[Verdict] = []
    skipped: list[str] = []
    for stage in stages:
        current = record.stage(stage.name)
        if current.completed:
            skipped.append(stage.name)
            verdicts.append(replace(judge(stage, current, max_failure_ratio), halted=False,
                                    reason="completed by an earlier run"))
            continue
        deploy_stage(record, stage, stage.stacks, deploy)
        verdict = close_stage(record, stage, now(), max_failure_ratio)
        verdicts.append(verdict)
        if on_verdict is not None:
            on_verdict(verdict)
        if verdict.halted:
            break
    return summarize(record, stages, verdicts, skipped)
