#!/usr/bin/env bash
# Sets the machine up (scripts/setup.sh) and runs the whole test suite: lint, types, unit, integration, e2e.
# Extra arguments go to pytest (e.g. `scripts/test.sh -m unit`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ -f .venv/pulumi-bin-dir ]; then PATH="$(cat .venv/pulumi-bin-dir):$PATH"; export PATH; fi
export PULUMI_SKIP_UPDATE_CHECK=true PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true

echo "==> ruff"
.venv/bin/ruff check .
echo "==> mypy (strict on the toolkit's packages)"
.venv/bin/mypy
echo "==> pytest"
# Modules run in parallel workers (--dist loadfile keeps a module's tests, and its module-scoped servers, on one
# worker); each worker starts its own servers on free ports. PM_TEST_WORKERS=0 runs everything in this process.
workers="${PM_TEST_WORKERS:-3}"
parallel=()
if [ "$workers" != "0" ]; then parallel=(-n "$workers" --dist loadfile); fi
set +e
.venv/bin/python -m pytest "${parallel[@]}" --durations=25 "$@"
rc=$?
set -e
# pytest exits 5 when it collected no tests: not a failure of the suite.
if [ "$rc" = 5 ]; then echo "pytest collected no tests"; rc=0; fi
exit "$rc"
