"""The Vault cluster stack's configuration (``platform/vault/stacks/Pulumi.<stack>.yaml``, keys under ``pm:``),
validated before anything is created: every problem is named with its key, all at once.

Keys: ``cluster_name`` (a DNS label, also the certificates' cluster name ``<cluster_name>.vault``), ``nodes`` (odd, at
least 3: raft keeps a quorum through the loss of one node only from three), ``pgp_keys`` (the operators' public
keys, one share each: Shamir ``shares`` = their number, at least ``threshold``), ``threshold`` (default 3),
``hostwinds`` (``api_url``, ``location``, ``size``, ``image``, ``poll_interval``, ``poll_timeout``), ``openbao``
(``version``, ``sha256`` of the release archive, optional ``url``; or ``source: local`` in the sandbox: the local
``bao`` binary, pinned to its own digest), ``unseal_wait`` (seconds ``pulumi up`` waits for the operators to unseal
a new cluster, default 900), ``shares_file`` (where the encrypted shares are handed to ``invoke vault.unseal``,
default ``shares/<stack>.json`` beside the project), ``node_generations`` (node index -> generation: a bump
replaces that node's VPS), ``seal`` (``shamir``, the default: the operators unseal every started node with their
shares; or ``static``: auto-unseal with a key generated in memory, kept as a Pulumi secret and on every node's disk,
the PGP-encrypted shares then being recovery shares. Chosen at creation: changing it is a seal migration),
``cert_generation`` (a bump renews every node's certificate, one year each, applied by a rolling restart),
``operator_role_id`` + ``operator_secret_id`` (the latter set with ``pulumi config set --secret``: after
``vault.restore`` into this stack's cluster, the restored data's own cluster-operator AppRole, which the day-2
rollout then logs in with instead of the one this stack's init made).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolkit.errors import ConfigError, ValidationError
from toolkit.redact import REDACTOR, Secret
from vault.cluster_host import OpenBaoSource, local_source
from vault.pgp import PublicKey, parse_public_keys

_LABEL = re.compile(r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$")
MIN_NODES = 3
SEALS = ("shamir", "static")


class ClusterConfigError(ConfigError):
    """One or more keys of the cluster stack's config are wrong (each named)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        text = "; ".join(f"pm:{key} {problem}" for key, problem in problems)
        super().__init__("cluster stack config", text)


@dataclass(frozen=True)
class HostwindsPlacement:
    api_url: str | None = None
    location: str = "1"
    size: str = "small"
    image: str = "debian-12"
    poll_interval: float = 30.0
    poll_timeout: float = 1800.0


@dataclass(frozen=True)
class ClusterConfig:
    stack: str
    cluster_name: str
    nodes: int
    pgp_keys: tuple[PublicKey, ...]
    threshold: int
    hostwinds: HostwindsPlacement
    openbao: OpenBaoSource
    unseal_wait: float
    shares_file: Path
    node_generations: dict[int, int] = field(default_factory=dict)
    seal: str = "shamir"
    cert_generation: int = 1
    """A bump renews every node's certificate (same CA), applied by a rolling restart."""
    operator_role_id: str = ""
    operator_secret_id: Secret | None = None
    """Set after a restore into this cluster: the restored data's cluster-operator AppRole (see the docstring)."""

    @property
    def dns_name(self) -> str:
        return f"{self.cluster_name}.vault"

    def generation(self, index: int) -> int:
        return self.node_generations.get(index, 1)

    def label(self, index: int) -> str:
        return f"pm-vault-{self.cluster_name}-{index}-{self.generation(index)}"


def _int(raw: dict[str, Any], key: str, default: int, problems: list[tuple[str, str]]) -> int:
    value = raw.get(key, default)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():  # Pulumi hands scalars over as text
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        problems.append((key, f"must be a whole number, not {value!r}"))
        return default
    return value


def _openbao(raw: Any, problems: list[tuple[str, str]]) -> OpenBaoSource | None:
    if not isinstance(raw, dict) or not raw.get("version"):
        problems.append(("openbao", "must give at least `version` (and `sha256` of the release, or `source: local`)"))
        return None
    try:
        if raw.get("source") == "local":
            from vault.server import bao_binary  # the sandbox's binary; a real host never takes this branch

            return local_source(str(raw["version"]), str(raw.get("local_path") or bao_binary()))
        return OpenBaoSource(version=str(raw["version"]), sha256=str(raw.get("sha256") or ""),
                             url=str(raw.get("url") or ""))
    except ConfigError as exc:
        problems.append((exc.field.removeprefix("openbao."), exc.problem))
        return None


def _secret(value: str) -> Secret | None:
    if not value:
        return None
    secret = Secret(value)
    REDACTOR.register(secret)
    return secret


def parse_cluster_config(raw: dict[str, Any], stack: str, project_dir: Path,
                         secret_keys_ok: Callable[[str], bool] = lambda _key: True) -> ClusterConfig:
    """The validated config, or ``ClusterConfigError`` naming every wrong key. ``secret_keys_ok(key)``: was the
    key's value given as a Pulumi secret (the program asks the engine)."""
    problems: list[tuple[str, str]] = []
    known = {"cluster_name", "nodes", "pgp_keys", "threshold", "hostwinds", "openbao", "unseal_wait", "shares_file",
             "node_generations", "seal", "cert_generation", "operator_role_id", "operator_secret_id"}
    problems += [(key, "is not a setting of the cluster stack") for key in sorted(set(raw) - known)]
    name = str(raw.get("cluster_name") or "")
    if not _LABEL.match(name):
        problems.append(("cluster_name", f"{name!r} must be 3-32 lower-case letters, digits or '-'"))
    nodes = _int(raw, "nodes", MIN_NODES, problems)
    if nodes < MIN_NODES or nodes % 2 == 0:
        problems.append(("nodes", f"is {nodes}: a raft cluster needs an odd number of nodes, at least {MIN_NODES} "
                                  "(with fewer, losing one node loses the quorum)"))
    threshold = _int(raw, "threshold", 3, problems)
    keys: tuple[PublicKey, ...] = ()
    texts = raw.get("pgp_keys")
    if not isinstance(texts, list) or not texts:
        problems.append(("pgp_keys", "is missing: list the operators' OpenPGP public keys (one share each; "
                                     "`gpg --armor --export <operator>`)"))
    else:
        try:
            keys = tuple(parse_public_keys([str(t) for t in texts]))
        except ValidationError as exc:
            problems.append((exc.field, exc.problem))
        if keys and not 2 <= threshold <= len(keys):
            problems.append(("threshold", f"is {threshold}: it must be at least 2 and at most the number of "
                                          f"pgp_keys ({len(keys)})"))
    hw = raw.get("hostwinds") or {}
    if not isinstance(hw, dict):
        problems.append(("hostwinds", "must be a mapping"))
        hw = {}
    placement = HostwindsPlacement(
        api_url=hw.get("api_url"), location=str(hw.get("location", "1")), size=str(hw.get("size", "small")),
        image=str(hw.get("image", "debian-12")), poll_interval=float(hw.get("poll_interval", 30.0)),
        poll_timeout=float(hw.get("poll_timeout", 1800.0)))
    source = _openbao(raw.get("openbao"), problems)
    generations_raw = raw.get("node_generations") or {}
    generations: dict[int, int] = {}
    if isinstance(generations_raw, dict):
        for index, value in generations_raw.items():
            if str(index).isdigit() and isinstance(value, int) and value >= 1 and int(index) < nodes:
                generations[int(index)] = value
            else:
                problems.append(("node_generations", f"{index}: {value!r} must map a node index to a generation >= 1"))
    cert_generation = _int(raw, "cert_generation", 1, problems)
    if cert_generation < 1:
        problems.append(("cert_generation", f"is {cert_generation}: must be 1 or more (bump it to renew)"))
    role_id, secret_id = str(raw.get("operator_role_id") or ""), str(raw.get("operator_secret_id") or "")
    if bool(role_id) != bool(secret_id):
        problems.append(("operator_secret_id" if role_id else "operator_role_id",
                         "is missing: give both operator_role_id and operator_secret_id (with `pulumi config set "
                         "--secret`), or neither"))
    elif secret_id and not secret_keys_ok("operator_secret_id"):
        problems.append(("operator_secret_id", "is in clear in the stack file: remove it and set it with "
                                               "`pulumi config set --secret pm:operator_secret_id <secret id>`"))
    seal = str(raw.get("seal") or "shamir")
    if seal not in SEALS:
        problems.append(("seal", f"is {seal!r}: use 'shamir' (operators unseal with their shares) or 'static' "
                                 "(auto-unseal with a key on every node: read docs/production.md before choosing it)"))
    shares_file = Path(str(raw.get("shares_file") or f"shares/{stack}.json"))
    if problems or source is None:
        raise ClusterConfigError(problems)
    return ClusterConfig(stack=stack, cluster_name=name, nodes=nodes, pgp_keys=keys, threshold=threshold,
                         hostwinds=placement, openbao=source, unseal_wait=float(raw.get("unseal_wait", 900)),
                         shares_file=shares_file if shares_file.is_absolute() else project_dir / shares_file,
                         node_generations=generations, seal=seal, cert_generation=cert_generation,
                         operator_role_id=role_id, operator_secret_id=_secret(secret_id))
