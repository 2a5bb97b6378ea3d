"""Files in a tenant user's home, read and written from a root session without trusting anything the tenant owns.

The tenant owns ``/home/<user>`` and everything below it, so any path there may be a symlink or a hard link to a
root file by the time root touches it (issue 11: ``ln -s /etc/profile.d ~/.ssh`` made a root ``install -d -o``
hand /etc/profile.d to the tenant). The rules:

- Root only looks at ``/home/<user>`` itself (lstat: ``stat`` without ``-L``) and, when needed, creates it
  (``mkdir``) or gives it to the user (``chown -h``). That entry lives in ``/home``, which must be a directory owned
  by root that nobody else may write, so the tenant cannot swap it. A symlink or a non-directory at
  ``/home/<user>`` is refused (``TenantHomeError``): root never follows it and never removes what it did not make.
- Everything inside the home is done AS the tenant (``setpriv --reuid --regid --clear-groups --no-new-privs
  --reset-env``): the kernel's own permission checks make a link to a root path harmless (writing through it
  fails), and whatever is written is the tenant's. No root ``chmod``/``chown``/``cat``/``install``/``mv`` ever names
  a path inside the home.
- A directory that is a symlink, not a directory, or not owned by the tenant is a wrong-type fact: it is renamed
  aside (``<name>.pm-quarantine-<stamp>``, as the tenant, a rename never follows a link) and created anew.
- A file is replaced by a temporary file in the same directory + rename (a rename replaces a link, never writes
  through it). Its content is trusted (read back) only from a regular file owned by the tenant with one link;
  anything else counts as absent and is replaced.
- What is read as the tenant is only what the tenant could have written anyway: callers use it as the tenant's
  data (e.g. its public keys), never as an instruction for root.

Planning is pure, facts in and steps out (``plan_home``, ``plan_file``); ``TenantFiles`` gathers the facts over a
``RemoteExecutor`` and runs the steps.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from toolkit.errors import RemoteError, ValidationError
from toolkit.ssh import RemoteExecutor, quote_all

HOME_ROOT = "/home"
HOME_MODE = 0o750
MAX_CONTENT = 1 << 20
"""Bytes of a tenant file read back at most; a longer file counts as untrusted (and is replaced on write)."""
_STAT_FORMAT = "%F|%a|%u|%g|%h"
_NAME = re.compile(r"[A-Za-z0-9._][A-Za-z0-9._-]*")

EntryKind = Literal["missing", "dir", "file", "symlink", "other"]


class TenantFileError(RemoteError):
    """A file in a tenant's home could not be read or written safely; nothing was written for root."""


class TenantHomeError(TenantFileError):
    """``/home/<user>`` (or ``/home``) is not what root may safely touch; root refused and changed nothing."""


# --- facts -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Entry:
    """One directory entry as ``lstat`` sees it (links are not followed)."""

    kind: EntryKind
    mode: int = 0
    uid: int = -1
    gid: int = -1
    links: int = 0

    def describe(self) -> str:
        if self.kind == "missing":
            return "missing"
        return f"{self.kind}, mode {self.mode:o}, owner {self.uid}:{self.gid}"


MISSING = Entry("missing")


@dataclass(frozen=True)
class Account:
    user: str
    uid: int
    gid: int

    @property
    def home(self) -> str:
        return f"{HOME_ROOT}/{self.user}"


@dataclass(frozen=True)
class HomeFacts:
    """Gathered as root: ``/home`` (its own links followed: root's) and ``/home/<user>`` (not followed)."""

    account: Account
    parent: Entry
    home: Entry


@dataclass(frozen=True)
class TenantFile:
    """A file ``<home>/<directory>/<name>`` with the modes it must have (single path components only)."""

    directory: str
    name: str
    dir_mode: int = 0o700
    mode: int = 0o600

    def __post_init__(self) -> None:
        for label, value in (("directory", self.directory), ("name", self.name)):
            if not _NAME.fullmatch(value) or value in (".", ".."):
                raise ValidationError(f"tenant_file.{label}", f"{value!r} must be one plain path component")

    def dir_path(self, account: Account) -> str:
        return f"{account.home}/{self.directory}"

    def path(self, account: Account) -> str:
        return f"{account.home}/{self.directory}/{self.name}"


AUTHORIZED_KEYS = TenantFile(".ssh", "authorized_keys", 0o700, 0o600)


@dataclass(frozen=True)
class FileFacts:
    """Gathered as the tenant: the directory, the file (MISSING unless the directory is a real one) and what the
    tenant could read of a regular file (None if it is no regular file, unreadable or too long)."""

    directory: Entry
    file: Entry
    content: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Step:
    """One command: as root or as the tenant; ``stdin`` is the content of a write."""

    argv: tuple[str, ...]
    as_tenant: bool
    summary: str
    stdin: bytes | None = field(default=None, repr=False)
    writes_content: bool = False


@dataclass(frozen=True)
class WriteReport:
    """What a write did: one line per step (empty when everything was converged already)."""

    changes: tuple[str, ...]
    content_changed: bool

    @property
    def changed(self) -> bool:
        return bool(self.changes)


# --- pure planning -----------------------------------------------------------------------------------------

def _dir_mode_arg(mode: int) -> str:
    # GNU chmod keeps a directory's setgid/setuid bits for a 3- or 4-digit mode; 5 digits clear them.
    return f"0{mode:04o}"


def refuse_unsafe(facts: HomeFacts) -> None:
    """Raise ``TenantHomeError`` if acting as the account is acting as root, or if ``/home`` is writable by
    someone other than root (then ``/home/<user>`` itself could be swapped under root's feet)."""
    account, parent = facts.account, facts.parent
    if account.uid == 0 or account.gid == 0:
        raise TenantHomeError(f"user {account.user} has uid {account.uid} / gid {account.gid}: acting as it would "
                              "be acting as root; refusing to touch its home")
    if parent.kind != "dir" or parent.uid != 0 or parent.mode & 0o022:
        raise TenantHomeError(f"{HOME_ROOT} is not a directory that only root may write ({parent.describe()}): "
                              f"another user could swap {account.home}; refusing to touch it")


def plan_home(facts: HomeFacts, mode: int = HOME_MODE) -> list[Step]:
    """Root's part: ``/home/<user>`` must be a real directory owned by the user with ``mode``."""
    refuse_unsafe(facts)
    account, home = facts.account, facts.home
    path = account.home
    owner = f"{account.uid}:{account.gid}"
    if home.kind == "missing":
        return [Step(("mkdir", "-m", f"{mode:o}", "--", path), False, f"created {path}"),
                Step(("chown", "-h", owner, "--", path), False, f"gave {path} to {account.user}")]
    if home.kind != "dir":
        raise TenantHomeError(f"{path} is a {home.kind}, not a directory: root neither follows nor removes it; "
                              "refusing to touch the tenant's home (check how it got there and repair it by hand)")
    steps: list[Step] = []
    if (home.uid, home.gid) != (account.uid, account.gid):
        steps.append(Step(("chown", "-h", owner, "--", path), False,
                          f"gave {path} to {account.user} (was {home.uid}:{home.gid})"))
    if home.mode & 0o7777 != mode:
        steps.append(Step(("chmod", _dir_mode_arg(mode), "--", path), True,
                          f"set mode {mode:o} on {path} (was {home.mode:o})"))
    return steps


def trusted_content(account: Account, facts: FileFacts) -> bytes | None:
    """The file's content if it is the tenant's own regular file with one link, else None (= absent)."""
    directory, file = facts.directory, facts.file
    if directory.kind != "dir" or directory.uid != account.uid:
        return None
    if file.kind != "file" or file.uid != account.uid or file.links != 1:
        return None
    return facts.content


WRITE_SCRIPT = (
    'set -eu; umask 077; tmp=$(mktemp "$1/.pm-write.XXXXXX"); trap \'rm -f -- "$tmp"\' EXIT; '
    'cat > "$tmp"; chmod "$3" -- "$tmp"; '
    'if [ -d "$2" ] && [ ! -L "$2" ]; then mv -T -- "$2" "$2.pm-quarantine-$(date -u +%Y%m%dT%H%M%SZ)-$$"; fi; '
    'mv -T -f -- "$tmp" "$2"; trap - EXIT'
)
"""Run as the tenant: temp file in the same directory, mode, rename over the target (replaces a link). A directory
at the target (one the facts could not see, e.g. in a directory that was not searchable until this run's chmod) is
moved aside first: a rename cannot replace a directory."""


def plan_file(account: Account, spec: TenantFile, facts: FileFacts, content: bytes, stamp: str) -> list[Step]:
    """The tenant's part: directory and file converged to ``spec`` and ``content``; no steps when they are."""
    dir_path, path = spec.dir_path(account), spec.path(account)
    directory, file = facts.directory, facts.file
    current = trusted_content(account, facts)
    steps: list[Step] = []
    if directory.kind != "missing" and (directory.kind != "dir" or directory.uid != account.uid):
        aside = f"{dir_path}.pm-quarantine-{stamp}"
        steps.append(Step(("mv", "-T", "--", dir_path, aside), True,
                          f"moved {dir_path} ({directory.describe()}) aside to {aside}"))
        directory, file, current = MISSING, MISSING, None
    if directory.kind == "missing":
        steps.append(Step(("mkdir", "-m", f"{spec.dir_mode:o}", "--", dir_path), True, f"created {dir_path}"))
    elif directory.mode & 0o7777 != spec.dir_mode:
        steps.append(Step(("chmod", _dir_mode_arg(spec.dir_mode), "--", dir_path), True,
                          f"set mode {spec.dir_mode:o} on {dir_path} (was {directory.mode:o})"))
    if file.kind == "dir":  # a rename cannot replace a directory
        aside = f"{path}.pm-quarantine-{stamp}"
        steps.append(Step(("mv", "-T", "--", path, aside), True, f"moved {path} ({file.describe()}) aside to {aside}"))
    if current != content or file.mode & 0o7777 != spec.mode:
        if file.kind in ("symlink", "other"):
            why = f"replaced a {file.kind}"
        elif file.kind == "file" and current is None:
            why = f"replaced a file that is not the tenant's alone: {file.describe()}, {file.links} link(s)"
        elif current != content:
            why = "content"
        else:
            why = f"mode was {file.mode:o}"
        steps.append(Step(("sh", "-c", WRITE_SCRIPT, "pm-tenant-write", dir_path, path, f"{spec.mode:o}"), True,
                          f"wrote {path} ({why})", stdin=content, writes_content=current != content))
    return steps


def quarantine_stamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


# --- parsing command output --------------------------------------------------------------------------------

_KINDS: dict[str, EntryKind] = {"directory": "dir", "regular file": "file", "regular empty file": "file",
                                "symbolic link": "symlink"}


def parse_entry(line: str) -> Entry:
    """One ``stat -c '%F|%a|%u|%g|%h'`` line, or ``MISSING``."""
    if line == "MISSING":
        return MISSING
    fields = line.split("|")
    if len(fields) != 5:
        raise TenantFileError(f"unexpected stat output: {line[:200]!r}")
    kind_text, mode, uid, gid, links = fields
    try:
        return Entry(_KINDS.get(kind_text, "other"), int(mode, 8), int(uid), int(gid), int(links))
    except ValueError:
        raise TenantFileError(f"unexpected stat output: {line[:200]!r}") from None


def _stat_if_present(path: str) -> str:
    q = quote_all([path])
    return f"if [ -e {q} ] || [ -L {q} ]; then stat -c '{_STAT_FORMAT}' -- {q}; else echo MISSING; fi"


def root_facts_script(user: str) -> str:
    """Run as root: ``uid|gid`` (or NOUSER), then ``/home`` (followed) and ``/home/<user>`` (not followed)."""
    q = quote_all([user])
    return (
        f"if ! uid=$(id -u -- {q} 2>/dev/null) || ! gid=$(id -g -- {q} 2>/dev/null); then echo NOUSER; exit 0; fi; "
        'echo "$uid|$gid"; '
        f"stat -L -c '{_STAT_FORMAT}' -- {HOME_ROOT}; "
        + _stat_if_present(f"{HOME_ROOT}/{user}")
    )


TENANT_FACTS_SCRIPT = (
    "st() { if [ -e \"$1\" ] || [ -L \"$1\" ]; then stat -c '" + _STAT_FORMAT + "' -- \"$1\"; "
    "else echo MISSING; fi; }; "
    'st "$1"; '
    'if [ -d "$1" ] && [ ! -L "$1" ]; then st "$2"; else echo MISSING; fi; '
    'if [ -d "$1" ] && [ ! -L "$1" ] && [ -f "$2" ] && [ ! -L "$2" ] && [ -r "$2" ]; then '
    f'echo CONTENT; head -c {MAX_CONTENT + 1} -- "$2"; else echo NOCONTENT; fi'
)
"""Run as the tenant with $1 = directory, $2 = file: two stat lines, then CONTENT + the bytes, or NOCONTENT."""


def parse_root_facts(user: str, stdout: str) -> HomeFacts | None:
    lines = stdout.splitlines()
    if lines[:1] == ["NOUSER"]:
        return None
    if len(lines) != 3 or len(lines[0].split("|")) != 2:
        raise TenantFileError(f"unexpected output while looking at {HOME_ROOT}/{user}: {stdout[:200]!r}")
    uid, gid = lines[0].split("|")
    try:
        account = Account(user, int(uid), int(gid))
    except ValueError:
        raise TenantFileError(f"unexpected uid/gid for {user}: {lines[0][:60]!r}") from None
    return HomeFacts(account, parse_entry(lines[1]), parse_entry(lines[2]))


def parse_file_facts(stdout: str) -> FileFacts:
    head = stdout.split("\n", 3)
    if len(head) < 3 or head[2] not in ("CONTENT", "NOCONTENT"):
        raise TenantFileError(f"unexpected output while looking at a tenant file: {stdout[:200]!r}")
    content: bytes | None = None
    if head[2] == "CONTENT":
        data = (head[3] if len(head) > 3 else "").encode()
        content = data if len(data) <= MAX_CONTENT else None
    return FileFacts(parse_entry(head[0]), parse_entry(head[1]), content)


# --- running -----------------------------------------------------------------------------------------------

def as_user(account: Account, argv: Sequence[str]) -> list[str]:
    """``argv`` run with the account's uid and gid only: no supplementary groups, no capabilities, no way back."""
    return ["setpriv", f"--reuid={account.uid}", f"--regid={account.gid}", "--clear-groups", "--no-new-privs",
            "--reset-env", "--", *argv]


class TenantFiles:
    """Read and write files under one tenant user's home through a root ``RemoteExecutor``."""

    def __init__(self, executor: RemoteExecutor, user: str, *, home_mode: int = HOME_MODE,
                 stamp: Callable[[], str] = quarantine_stamp, timeout: float = 60.0) -> None:
        if not _NAME.fullmatch(user) or user.startswith("."):
            raise ValidationError("tenant_files.user", f"{user!r} is not a plain user name")
        self._ex = executor
        self._user = user
        self._home_mode = home_mode
        self._stamp = stamp
        self._timeout = timeout

    def home_facts(self) -> HomeFacts | None:
        """None when the user does not exist."""
        result = self._ex.run(root_facts_script(self._user), timeout=self._timeout)
        return parse_root_facts(self._user, result.stdout)

    def file_facts(self, account: Account, spec: TenantFile) -> FileFacts:
        result = self._ex.run(as_user(account, ["sh", "-c", TENANT_FACTS_SCRIPT, "pm-tenant-facts",
                                                spec.dir_path(account), spec.path(account)]),
                              check=False, timeout=self._timeout)
        if result.exit_code != 0:
            raise TenantFileError(f"{self._ex.host}: cannot look at {spec.path(account)} as {account.user} "
                                  f"(exit {result.exit_code}): {result.stderr.strip()[-300:]}")
        return parse_file_facts(result.stdout)

    def read(self, spec: TenantFile) -> str | None:
        """The file's text as the tenant wrote it; None if the user, its home or a trustworthy file is missing."""
        facts = self.home_facts()
        if facts is None or facts.home.kind != "dir":
            return None
        refuse_unsafe(facts)
        account = facts.account
        content = trusted_content(account, self.file_facts(account, spec))
        return None if content is None else content.decode("utf-8", errors="replace")

    def trusted_stat(self, spec: TenantFile) -> tuple[bytes, int] | None:
        """Content (at most ``MAX_CONTENT`` bytes) and mode of the file, read as the tenant; None unless it is the
        tenant's own regular single-link file in the tenant's own directory."""
        facts = self.home_facts()
        if facts is None or facts.home.kind != "dir":
            return None
        refuse_unsafe(facts)
        file_facts = self.file_facts(facts.account, spec)
        content = trusted_content(facts.account, file_facts)
        return None if content is None else (content, file_facts.file.mode & 0o7777)

    def write(self, spec: TenantFile, content: bytes) -> WriteReport:
        return self.edit(spec, lambda _current: content)

    def edit(self, spec: TenantFile, change: Callable[[bytes | None], bytes]) -> WriteReport:
        """Converge the home, the directory and the file to ``change(trusted current content)``."""
        facts = self.home_facts()
        if facts is None:
            raise TenantFileError(f"{self._ex.host}: user {self._user} does not exist; nothing was written")
        account = facts.account
        changes = self._run(account, plan_home(facts, self._home_mode))
        file_facts = self.file_facts(account, spec)
        steps = plan_file(account, spec, file_facts, change(trusted_content(account, file_facts)), self._stamp())
        changes += self._run(account, steps)
        return WriteReport(tuple(changes), any(step.writes_content for step in steps))

    def _run(self, account: Account, steps: Sequence[Step]) -> list[str]:
        for step in steps:
            argv = as_user(account, step.argv) if step.as_tenant else list(step.argv)
            result = self._ex.run(argv, stdin=step.stdin, check=False, timeout=self._timeout)
            if result.exit_code != 0:
                who = account.user if step.as_tenant else "root"
                raise TenantFileError(f"{self._ex.host}: could not {step.summary} (as {who}, exit "
                                      f"{result.exit_code}): {result.stderr.strip()[-300:]}; nothing was written "
                                      "outside the tenant's home")
        return [step.summary for step in steps]
