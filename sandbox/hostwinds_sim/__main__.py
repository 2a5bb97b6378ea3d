"""``python -m sandbox.hostwinds_sim --state-dir D --port P [--api-key K]`` runs the simulator until SIGTERM.

The key may also come from HOSTWINDS_SIM_API_KEY (preferred: argv is visible to every local user).
On SIGTERM/SIGINT it stops its VPS hosts; their files and the account state stay for the next start.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from sandbox.hostwinds_sim.process import ENV_API_KEY
from sandbox.hostwinds_sim.server import SimulatorServer
from sandbox.hostwinds_sim.settings import SimSettings
from toolkit.errors import ToolkitError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.hostwinds_sim", description=__doc__)
    parser.add_argument("--state-dir", required=True, type=Path)
    parser.add_argument("--port", required=True, type=int)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--api-key", default=None, help=f"default: ${ENV_API_KEY}")
    parser.add_argument("--settings-json", default=None, help="SimSettings overrides as a JSON object")
    parser.add_argument("--no-vps-hosts", action="store_true", help="API only: no SSH host per instance")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    api_key = args.api_key or os.environ.get(ENV_API_KEY, "")
    if not api_key:
        parser.error(f"--api-key or ${ENV_API_KEY} is required")
    settings = SimSettings()
    try:
        if args.settings_json:
            settings.update(json.loads(args.settings_json))
        if args.no_vps_hosts:
            settings.vps_hosts = False
        server = SimulatorServer(args.state_dir, api_key, port=args.port, host=args.host, settings=settings)
    except (ToolkitError, ValueError, OSError) as exc:
        print(f"hostwinds simulator: cannot start: {exc}", file=sys.stderr)
        return 2

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        # shutdown() blocks until serve_forever returns, so it must run off the serving thread.
        threading.Thread(target=server.stop, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print(f"hostwinds simulator listening on {server.url} (state in {args.state_dir})", flush=True)
    server.serve_forever()
    print("hostwinds simulator stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
