#!/usr/bin/python3
"""Stand-in for system tools on a simulated VPS (docker, apt-get, dpkg-query, systemctl, ufw, fail2ban-client, ...).

Copied into each VPS's private filesystem and reached through symlinks named after the tool it replaces, so
``argv[0]`` says which tool was called. Every call is appended as one JSON line to ``/var/log/pm-standins.jsonl``
(``PM_STANDIN_LOG`` overrides) and reports success with plausible output. A little state (compose projects
that are up, ufw rules, the packages apt "installed") lives in ``/var/lib/pm-standins/state.json`` so
``docker compose ps``, ``ufw status`` and ``dpkg-query`` answer consistently with earlier calls.

``docker compose up`` of a project with a ``front`` service starts REAL listeners (``vps_listeners.py``: SMTP with
STARTTLS, submission, SMTPS, IMAPS, HTTPS) on the address and ports front publishes, as a process of the VPS (it
ends with the VPS host); ``down`` stops them, ``ps`` reports what front publishes. ``standin.py --boot`` (run by
``VpsHost.start``) starts them again after a restart of the host, as Docker's ``restart: always`` would.

Runs under the VPS's system python3 with the standard library only: it must not import project code.
"""

from __future__ import annotations

import datetime
import importlib.util
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

LOG_PATH = Path(os.environ.get("PM_STANDIN_LOG", "/var/log/pm-standins.jsonl"))
STATE_PATH = Path(os.environ.get("PM_STANDIN_STATE", "/var/lib/pm-standins/state.json"))
COMPOSE_FILE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
LISTENERS = Path(__file__).resolve().with_name("listeners.py")


def record(tool: str, args: list[str]) -> None:
    LOG_PATH.parent.mkdir(parents=True, exist_ok=True)
    entry = {
        "ts": datetime.datetime.now(datetime.UTC).isoformat(),
        "tool": tool,
        "args": args,
        "cwd": os.getcwd(),
    }
    with LOG_PATH.open("a", encoding="utf-8") as log:
        log.write(json.dumps(entry) + "\n")


def load_state() -> dict[str, Any]:
    try:
        data = json.loads(STATE_PATH.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save_state(state: dict[str, Any]) -> None:
    STATE_PATH.parent.mkdir(parents=True, exist_ok=True)
    STATE_PATH.write_text(json.dumps(state, indent=1), encoding="utf-8")


# --- docker -------------------------------------------------------------------------------------------

def compose_files(args: list[str]) -> list[Path]:
    files = [Path(args[i + 1]) for i, arg in enumerate(args[:-1]) if arg in ("-f", "--file")]
    files += [Path(arg.split("=", 1)[1]) for arg in args if arg.startswith("--file=")]
    if files:
        return files
    for name in COMPOSE_FILE_NAMES:
        if Path(name).is_file():
            return [Path(name)]
    return []


def parse_compose(path: Path) -> dict[str, Any]:
    """The compose document; uses PyYAML when the VPS has it, else a minimal reader of the services block."""
    text = path.read_text(encoding="utf-8")
    try:
        import yaml  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        return {"services": {name: {} for name in _service_names_without_yaml(text)}}
    doc = yaml.safe_load(text)
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: top level must be a mapping")
    return doc


def _service_names_without_yaml(text: str) -> list[str]:
    names: list[str] = []
    in_services = False
    indent: int | None = None
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if re.match(r"^services:\s*$", line):
            in_services = True
            continue
        if in_services:
            current = len(line) - len(line.lstrip())
            if current == 0:
                break
            if indent is None:
                indent = current
            match = re.match(r"^\s*([A-Za-z0-9_.-]+):", line)
            if current == indent and match:
                names.append(match.group(1))
    return names


def project_name(args: list[str], files: list[Path]) -> str:
    for i, arg in enumerate(args[:-1]):
        if arg in ("-p", "--project-name"):
            return args[i + 1]
    base = files[0].resolve().parent if files else Path.cwd()
    return base.name or "default"


def docker_compose(args: list[str]) -> int:
    files = compose_files(args)
    options_with_value = {"-f", "--file", "-p", "--project-name", "--env-file", "--profile"}
    positional: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg in options_with_value:
            skip = True
            continue
        positional.append(arg)
    sub = next((a for a in positional if not a.startswith("-")), "")
    if sub == "version":
        print("Docker Compose version v2.29.7 (pm stand-in)")
        return 0
    if not files:
        if sub in ("", "help"):
            return 0
        print("no configuration file provided: not found", file=sys.stderr)
        return 1
    try:
        services = sorted((parse_compose(files[0]).get("services") or {}).keys())
    except (OSError, ValueError) as exc:
        print(f"stand-in compose: invalid compose file: {exc}", file=sys.stderr)
        return 15
    project = project_name(args, files)
    state = load_state()
    up_projects: dict[str, list[str]] = state.setdefault("compose_up", {})
    if sub == "config":
        if "--quiet" not in args and "-q" not in args:
            sys.stdout.write(files[0].read_text(encoding="utf-8"))
        return 0
    if sub in ("up", "start", "restart"):
        targets = [a for a in positional[positional.index(sub) + 1:] if not a.startswith("-")] or services
        has_front = "front" in (parse_compose(files[0]).get("services") or {})
        if has_front and ("front" in targets or not alive(project)):
            problem = start_front(project, files[0])
            if problem:
                print(f"Error response from daemon: front: {problem}", file=sys.stderr)
                return 1
        up_projects[project] = services
        state.setdefault("compose_files", {})[project] = [str(f.resolve()) for f in files]
        save_state(state)
        for service in targets:
            print(f" Container {project}-{service}-1  Started", file=sys.stderr)
        return 0
    if sub in ("down", "stop"):
        stop_front(project)
        up_projects.pop(project, None)
        save_state(state)
        return 0
    if sub == "ps":
        running = up_projects.get(project, [])
        if "json" in " ".join(args):
            document = parse_compose(files[0])
            for service in running:
                print(json.dumps({
                    "Name": f"{project}-{service}-1", "Service": service, "Project": project,
                    "State": "running", "Health": "healthy", "Status": "Up 1 minute (healthy)", "ExitCode": 0,
                    "Publishers": publishers(document, service),
                }))
        else:
            print("NAME\tSERVICE\tSTATUS")
            for service in running:
                print(f"{project}-{service}-1\t{service}\tUp 1 minute (healthy)")
        return 0
    return 0


# --- front's listeners (vps_listeners.py, next to this script as listeners.py) -------------------------

def _listeners() -> Any:
    spec = importlib.util.spec_from_file_location("pm_standin_listeners", LISTENERS)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {LISTENERS}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def publishers(document: dict[str, Any], service: str) -> list[dict[str, Any]]:
    return list(_listeners().publishers(document, service))


def alive(project: str) -> bool:
    return bool(_listeners().alive(project))


def stop_front(project: str) -> None:
    _listeners().stop_front(project)


def start_front(project: str, compose_file: Path) -> str | None:
    problem: str | None = _listeners().start_front(project, compose_file, parse_compose(compose_file))
    return problem


def boot() -> int:
    """After a host restart: start the listeners of every project that was up (restart: always)."""
    boot_units()
    for project in load_state().get("compose_up", {}):
        files = [Path(f) for f in (load_state().get("compose_files") or {}).get(project, [])]
        if files and files[0].is_file() and not alive(project):
            start_front(project, files[0])
    return 0


def docker(args: list[str]) -> int:
    if args[:1] == ["compose"]:
        return docker_compose(args[1:])
    if args[:1] == ["version"] or args[:1] == ["--version"]:
        print("Docker version 27.3.1, build pm-stand-in")
        return 0
    if args[:1] == ["info"]:
        print("Server Version: 27.3.1\nStorage Driver: overlay2\nRunning on: pm stand-in")
        return 0
    if args[:1] == ["ps"]:
        print("CONTAINER ID   IMAGE   COMMAND   CREATED   STATUS   PORTS   NAMES")
        return 0
    return 0


# --- systemd, firewall, fail2ban, packages ---------------------------------------------------------

UNIT_DIR = Path("/etc/systemd/system")
UNIT_RUN = Path("/run/pm-standins/units")  # tmpfs of the host: pids end with it


def unit_file(unit: str) -> Path | None:
    """A unit an installer wrote (a regular file in /etc/systemd/system with ExecStart): its command really runs."""
    path = UNIT_DIR / (unit if "." in unit else f"{unit}.service")
    if path.is_file() and not path.is_symlink() and "ExecStart=" in path.read_text(encoding="utf-8"):
        return path
    return None


def unit_pid(unit: str) -> int | None:
    try:
        pid = int((UNIT_RUN / f"{unit}.pid").read_text())
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, ValueError, IndexError):
        return None
    return None if state == "Z" else pid


def unit_start(unit: str, path: Path) -> None:
    if unit_pid(unit) is not None:
        return
    import shlex
    import subprocess
    values: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and not line.lstrip().startswith(("#", ";")):
            values.setdefault(key.strip(), []).append(value.strip())
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
    for item in values.get("Environment", []):
        env.update(word.partition("=")[::2] for word in shlex.split(item) if "=" in word)
    UNIT_RUN.mkdir(parents=True, exist_ok=True)
    log = Path("/var/log/pm-standins") / f"{unit}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(shlex.split(values["ExecStart"][-1].lstrip("-@+!")), env=env, cwd=(values.get(
        "WorkingDirectory") or ["/"])[-1], stdin=subprocess.DEVNULL, stdout=log.open("ab"), stderr=subprocess.STDOUT,
        start_new_session=True)
    (UNIT_RUN / f"{unit}.pid").write_text(f"{process.pid}\n")


def unit_stop(unit: str) -> None:
    import select
    import signal
    pid = unit_pid(unit)
    for signum, wait in ((signal.SIGTERM, 1000), (signal.SIGKILL, 1000)):
        if pid is None or unit_pid(unit) is None:
            break
        os.kill(pid, signum)
        for _ in range(wait):  # up to 10 s for a clean stop, then SIGKILL
            if unit_pid(unit) is None:
                break
            select.select([], [], [], 0.01)
    (UNIT_RUN / f"{unit}.pid").unlink(missing_ok=True)


def systemctl(args: list[str]) -> int:
    """Units an installer wrote in /etc/systemd/system really start and stop (``unit_start``: ExecStart, Environment,
    WorkingDirectory; ``enable`` is remembered); every other unit answers as running, as before."""
    verbs = [a for a in args if not a.startswith("-")]
    verb = verbs[0] if verbs else ""
    units = [u[:-8] if u.endswith(".service") else u for u in verbs[1:]]
    state = load_state()
    enabled: list[str] = state.setdefault("units_enabled", [])
    code = 0
    for unit in units or [""]:
        path = unit_file(unit) if unit else None
        if path is None:
            if verb in ("is-active", "is-enabled"):
                print("active" if verb == "is-active" else "enabled")
            elif verb == "status":
                print(f"* {unit} - pm stand-in\n     Loaded: loaded\n     Active: active (running)")
            continue
        now = "--now" in args
        if verb in ("enable", "disable"):
            enabled[:] = [u for u in enabled if u != unit] + ([unit] if verb == "enable" else [])
            save_state(state)
        if verb == "stop" or (verb == "disable" and now) or verb == "restart":
            unit_stop(unit)
        if verb in ("start", "restart") or (verb == "enable" and now):
            unit_start(unit, path)
        if verb in ("is-active", "status"):
            running = unit_pid(unit) is not None
            print("active" if running else "inactive")
            code = code or (0 if running else 3)
        if verb == "is-enabled":
            print("enabled" if unit in enabled else "disabled")
            code = code or (0 if unit in enabled else 1)
    return code


def boot_units() -> None:
    """After a host restart: start every enabled unit (systemd's multi-user.target)."""
    for unit in load_state().get("units_enabled", []):
        path = unit_file(unit)
        if path is not None:
            unit_start(unit, path)


def ufw(args: list[str]) -> int:
    state = load_state()
    rules: list[str] = state.setdefault("ufw_rules", [])
    words = [a for a in args if a != "--force"]
    verb = words[0] if words else ""
    if verb in ("allow", "deny", "limit", "reject"):
        rule = " ".join(words)
        if rule not in rules:
            rules.append(rule)
        save_state(state)
        print("Rule added")
    elif verb == "enable":
        state["ufw_enabled"] = True
        save_state(state)
        print("Firewall is active and enabled on system startup")
    elif verb == "disable":
        state["ufw_enabled"] = False
        save_state(state)
        print("Firewall stopped and disabled on system startup")
    elif verb == "reset":
        state["ufw_rules"] = []
        save_state(state)
    elif verb == "status":
        active = "active" if state.get("ufw_enabled") else "inactive"
        print(f"Status: {active}")
        if active == "active" and rules:
            print("\nTo                         Action      From\n--                         ------      ----")
            for rule in rules:
                action, _, target = rule.partition(" ")
                print(f"{target:<27}{action.upper():<12}Anywhere")
    return 0


def fail2ban_client(args: list[str]) -> int:
    if args[:1] == ["ping"]:
        print("Server replied: pong")
    elif args[:1] == ["status"] and len(args) == 1:
        print("Status\n|- Number of jail:\t1\n`- Jail list:\tsshd")
    elif args[:1] == ["status"]:
        print(f"Status for the jail: {args[1]}\n|- Filter\n`- Actions\n   `- Currently banned:\t0")
    return 0


def apt_get(args: list[str]) -> int:
    """Records what apt would leave installed (``name`` or ``name=version``) for ``dpkg-query`` to report."""
    print("Reading package lists... Done")
    words = [a for a in args if not a.startswith("-")]
    verb, names = (words[0], words[1:]) if words else ("", [])
    if verb in ("install", "remove", "purge"):
        state = load_state()
        packages: dict[str, dict[str, Any]] = state.setdefault("dpkg", {})
        for item in names:
            name, _, version = item.partition("=")
            if verb == "install":
                previous = packages.get(name, {})
                packages[name] = {"version": version or previous.get("version") or "1.0-standin",
                                  "held": previous.get("held", False)}
            else:
                packages.pop(name, None)
        save_state(state)
        print("Building dependency tree... Done")
    return 0


def apt_mark(args: list[str]) -> int:
    words = [a for a in args if not a.startswith("-")]
    if words[:1] in (["hold"], ["unhold"]):
        state = load_state()
        for name in words[1:]:
            if name in state.get("dpkg", {}):
                state["dpkg"][name]["held"] = words[0] == "hold"
                print(f"{name} set on {'hold' if words[0] == 'hold' else 'unhold'}.")
        save_state(state)
    return 0


def dpkg_query(args: list[str]) -> int:
    """``dpkg-query -W [-f FORMAT] names...`` answered from what the apt-get stand-in installed."""
    fmt, names, skip = "${Package}\t${Version}\n", [], False
    for i, arg in enumerate(args):
        if skip:
            skip = False
        elif arg in ("-f", "--showformat"):
            fmt, skip = args[i + 1], True
        elif arg.startswith(("-f=", "--showformat=")):
            fmt = arg.split("=", 1)[1]
        elif not arg.startswith("-"):
            names.append(arg)
    packages = load_state().get("dpkg", {})
    missing = 0
    for name in names:
        entry = packages.get(name)
        if entry is None:
            print(f"dpkg-query: no packages found matching {name}", file=sys.stderr)
            missing += 1
            continue
        status = ("h" if entry.get("held") else "i") + "i "
        text = (fmt.replace("${Package}", name).replace("${Version}", entry["version"])
                .replace("${db:Status-Abbrev}", status).replace("\\n", "\n").replace("\\t", "\t"))
        sys.stdout.write(text)
    return 1 if missing else 0


def succeed(_args: list[str]) -> int:
    return 0


TOOLS = {
    "docker": docker,
    "docker-compose": docker_compose,
    "systemctl": systemctl,
    "ufw": ufw,
    "fail2ban-client": fail2ban_client,
    "apt-get": apt_get,
    "apt": apt_get,
    "apt-mark": apt_mark,
    "dpkg-query": dpkg_query,
}
STAND_IN_NAMES = (*TOOLS, "service", "journalctl", "reboot", "shutdown", "hostnamectl", "timedatectl")


def main(argv: list[str]) -> int:
    if argv[1:2] == ["--boot"]:
        return boot()
    tool = os.path.basename(argv[0])
    args = argv[1:]
    record(tool, args)
    return TOOLS.get(tool, succeed)(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
