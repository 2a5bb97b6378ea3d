"""The host firewall (ufw): deny incoming but the given TCP ports, allow outgoing, nothing else allowed. A marker
file holds the policy last applied, so a converged host is recognised from one `ufw status` and one stat."""

from __future__ import annotations

import re
from collections.abc import Sequence

from hostops.files import DesiredDir, DesiredFile, sync_dirs, sync_files
from hostops.services import Change
from toolkit.ssh import RemoteExecutor, quote_all


def ufw_apply_commands(allowed_tcp_ports: Sequence[int], extra_allowed: Sequence[str] = ()) -> list[list[str]]:
    commands = [["ufw", "default", "deny", "incoming"], ["ufw", "default", "allow", "outgoing"]]
    commands += [["ufw", "allow", f"{port}/tcp"] for port in allowed_tcp_ports]
    commands += [["ufw", "delete", "allow", rule] for rule in extra_allowed]
    commands.append(["ufw", "--force", "enable"])
    return commands


def parse_ufw_status(text: str) -> tuple[bool, set[str]]:
    """(active?, allowed rules like ``22/tcp``) from ``ufw status`` output; IPv6 duplicates folded."""
    active = bool(re.search(r"^Status:\s*active\s*$", text, re.MULTILINE))
    allowed: set[str] = set()
    for line in text.splitlines():
        match = re.match(r"^(\S+)(?:\s+\(v6\))?\s+ALLOW(?:\s+IN)?\s+", line)
        if match:
            allowed.add(match.group(1))
    return active, allowed


def ensure_ufw(executor: RemoteExecutor, allowed_tcp_ports: Sequence[int], marker: DesiredFile) -> Change:
    """Active, exactly ``allowed_tcp_ports`` allowed (other allow rules deleted), ``marker`` recording it."""
    active, allowed = parse_ufw_status(executor.run(["ufw", "status"]).stdout)
    wanted = {f"{port}/tcp" for port in allowed_tcp_ports}
    extra = tuple(sorted(allowed - wanted))
    sync_dirs(executor, [DesiredDir(marker.path.rsplit("/", 1)[0], 0o755)])
    marker_stat = executor.file_stats([marker.path])[marker.path]
    if active and allowed == wanted and marker_stat is not None and marker_stat.sha256 == marker.sha256:
        return Change(False)
    executor.run(" && ".join(quote_all(command) for command in ufw_apply_commands(allowed_tcp_ports, extra)))
    sync_files(executor, [marker])
    return Change(True, "allowed " + " ".join(sorted(wanted, key=lambda rule: int(rule.split("/")[0]))))
