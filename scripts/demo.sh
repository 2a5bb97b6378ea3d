#!/usr/bin/env bash
# The main job on the embedded local sandbox: set the machine up, start the sandbox (OpenBao, BIND, the
# Hostwinds simulator with real SSH hosts), provision tenant "demo" end to end with `pulumi up`, and report.
# Run it again: the second run previews, finds nothing to change, and reports.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/invoke demo
