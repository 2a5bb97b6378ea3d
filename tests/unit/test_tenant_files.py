"""Planning of root-side work in a tenant's home (toolkit.tenant_files): facts in, commands out, no host."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from toolkit.errors import ValidationError
from toolkit.ssh import CommandResult, FileStat
from toolkit.tenant_files import (
    AUTHORIZED_KEYS,
    MISSING,
    Account,
    Entry,
    FileFacts,
    HomeFacts,
    Step,
    TenantFile,
    TenantFileError,
    TenantFiles,
    TenantHomeError,
    parse_entry,
    parse_file_facts,
    parse_root_facts,
    plan_file,
    plan_home,
    trusted_content,
)

ACC = Account("tenant-acme1234", 1001, 1001)
HOME = "/home/tenant-acme1234"
SSH = f"{HOME}/.ssh"
KEYS = f"{SSH}/authorized_keys"
ROOT_HOME = Entry("dir", 0o755, 0, 0, 3)
GOOD_HOME = Entry("dir", 0o750, 1001, 1001, 3)
GOOD_SSH = Entry("dir", 0o700, 1001, 1001, 2)
GOOD_FILE = Entry("file", 0o600, 1001, 1001, 1)
CONTENT = b"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBase64Blob tenant\n"
STAMP = "20261125T120000Z-abcdef"


def home(entry: Entry, parent: Entry = ROOT_HOME, account: Account = ACC) -> HomeFacts:
    return HomeFacts(account, parent, entry)


def files(directory: Entry = GOOD_SSH, file: Entry = GOOD_FILE, content: bytes | None = CONTENT) -> FileFacts:
    return FileFacts(directory, file, content)


def plan(facts: FileFacts, content: bytes = CONTENT) -> list[Step]:
    return plan_file(ACC, AUTHORIZED_KEYS, facts, content, STAMP)


def shape(steps: Sequence[Step]) -> list[tuple[str, tuple[str, ...]]]:
    return [("tenant" if s.as_tenant else "root", s.argv if s.argv[0] != "sh" else ("write", s.argv[-2]))
            for s in steps]


# --- /home/<user>: root's part ---------------------------------------------------------------------------------

def test_converged_home_gives_no_commands() -> None:
    assert plan_home(home(GOOD_HOME)) == []


def test_missing_home_is_created_by_root_and_given_to_the_user() -> None:
    assert shape(plan_home(home(MISSING))) == [
        ("root", ("mkdir", "-m", "750", "--", HOME)),
        ("root", ("chown", "-h", "1001:1001", "--", HOME)),
    ]


def test_home_of_another_owner_is_chowned_without_following_and_chmod_is_the_tenants() -> None:
    steps = plan_home(home(Entry("dir", 0o755, 0, 0, 2)))
    assert shape(steps) == [
        ("root", ("chown", "-h", "1001:1001", "--", HOME)),
        ("tenant", ("chmod", "00750", "--", HOME)),
    ]


@pytest.mark.parametrize("kind", ["symlink", "file", "other"])
def test_home_that_is_not_a_directory_is_refused(kind: str) -> None:
    with pytest.raises(TenantHomeError, match=rf"{HOME} is a {kind}, not a directory"):
        plan_home(home(Entry(kind, 0o777, 1001, 1001, 1)))  # type: ignore[arg-type]


@pytest.mark.parametrize("parent", [Entry("dir", 0o777, 0, 0, 3), Entry("dir", 0o755, 1001, 1001, 3),
                                    Entry("dir", 0o1777, 0, 0, 3), Entry("symlink", 0o777, 0, 0, 1)])
def test_home_parent_that_others_may_write_is_refused(parent: Entry) -> None:
    with pytest.raises(TenantHomeError, match="only root may write"):
        plan_home(home(GOOD_HOME, parent=parent))


def test_account_with_uid_or_gid_zero_is_refused() -> None:
    with pytest.raises(TenantHomeError, match="acting as root"):
        plan_home(home(GOOD_HOME, account=Account("tenant-x", 0, 1001)))
    with pytest.raises(TenantHomeError, match="acting as root"):
        plan_home(home(GOOD_HOME, account=Account("tenant-x", 1001, 0)))


# --- inside the home: the tenant's part --------------------------------------------------------------------------

def test_converged_file_gives_no_commands() -> None:
    assert plan(files()) == []


def test_fresh_home_creates_the_directory_and_writes_the_file_as_the_tenant() -> None:
    steps = plan(files(MISSING, MISSING, None))
    assert shape(steps) == [("tenant", ("mkdir", "-m", "700", "--", SSH)), ("tenant", ("write", KEYS))]
    write = steps[-1]
    assert write.stdin == CONTENT and write.writes_content
    assert write.argv[-3:] == (SSH, KEYS, "600")


def test_ssh_dir_symlink_is_moved_aside_and_recreated_as_the_tenant() -> None:
    # The attack of issue 11: ~/.ssh -> /etc/profile.d. Nothing below it is looked at or trusted.
    steps = plan(files(Entry("symlink", 0o777, 1001, 1001, 1), MISSING, None))
    assert shape(steps) == [
        ("tenant", ("mv", "-T", "--", SSH, f"{SSH}.pm-quarantine-{STAMP}")),
        ("tenant", ("mkdir", "-m", "700", "--", SSH)),
        ("tenant", ("write", KEYS)),
    ]
    assert "symlink" in steps[0].summary


@pytest.mark.parametrize("directory", [Entry("file", 0o600, 1001, 1001, 1), Entry("dir", 0o700, 0, 0, 2),
                                       Entry("other", 0o600, 1001, 1001, 1)])
def test_ssh_dir_of_wrong_type_or_owner_is_quarantined(directory: Entry) -> None:
    steps = plan(files(directory, GOOD_FILE, CONTENT))
    assert [s.argv[0] for s in steps] == ["mv", "mkdir", "sh"]
    assert all(s.as_tenant for s in steps)


def test_ssh_dir_with_wrong_mode_is_chmodded_as_the_tenant() -> None:
    steps = plan(files(Entry("dir", 0o755, 1001, 1001, 2)))
    assert shape(steps) == [("tenant", ("chmod", "00700", "--", SSH))]


def test_authorized_keys_symlink_is_replaced_by_rename_as_the_tenant() -> None:
    # ~/.ssh/authorized_keys -> /root/.ssh/authorized_keys: the tenant cannot read it; the rename replaces the link.
    steps = plan(files(GOOD_SSH, Entry("symlink", 0o777, 1001, 1001, 1), None))
    assert shape(steps) == [("tenant", ("write", KEYS))]
    assert "replaced a symlink" in steps[0].summary


@pytest.mark.parametrize("file", [Entry("file", 0o600, 1001, 1001, 2), Entry("file", 0o600, 0, 0, 2),
                                  Entry("file", 0o600, 0, 0, 1)])
def test_hard_linked_or_foreign_file_is_not_trusted_and_is_replaced(file: Entry) -> None:
    facts = files(GOOD_SSH, file, CONTENT)  # even when the bytes match, they are not the tenant's alone
    assert trusted_content(ACC, facts) is None
    steps = plan(facts)
    assert shape(steps) == [("tenant", ("write", KEYS))]
    assert "not the tenant's alone" in steps[0].summary


def test_authorized_keys_directory_is_moved_aside_before_the_write() -> None:
    steps = plan(files(GOOD_SSH, Entry("dir", 0o700, 1001, 1001, 2), None))
    assert shape(steps) == [
        ("tenant", ("mv", "-T", "--", KEYS, f"{KEYS}.pm-quarantine-{STAMP}")),
        ("tenant", ("write", KEYS)),
    ]


def test_content_or_mode_difference_rewrites_the_file() -> None:
    assert [s.summary for s in plan(files(), content=b"other\n")] == [f"wrote {KEYS} (content)"]
    mode_only = plan(files(GOOD_SSH, Entry("file", 0o644, 1001, 1001, 1), CONTENT))
    assert [s.summary for s in mode_only] == [f"wrote {KEYS} (mode was 644)"]
    assert not mode_only[0].writes_content


ALL_CASES = [
    files(MISSING, MISSING, None), files(Entry("symlink", 0o777, 1001, 1001, 1), MISSING, None),
    files(Entry("dir", 0o700, 0, 0, 2)), files(GOOD_SSH, Entry("symlink", 0o777, 1001, 1001, 1), None),
    files(GOOD_SSH, Entry("file", 0o600, 0, 0, 2), CONTENT), files(GOOD_SSH, Entry("dir", 0o700, 1001, 1001, 2)),
    files(Entry("dir", 0o777, 1001, 1001, 2), Entry("file", 0o666, 1001, 1001, 1), b"x"),
]


@pytest.mark.parametrize("facts", ALL_CASES)
def test_no_root_command_ever_names_a_path_inside_the_home(facts: FileFacts) -> None:
    steps = plan(facts) + plan_home(home(Entry("dir", 0o700, 0, 0, 2))) + plan_home(home(MISSING))
    for step in steps:
        if not step.as_tenant:
            inside = [arg for arg in step.argv if arg.startswith(HOME + "/")]
            assert inside == [], step


def test_tenant_file_names_are_single_components() -> None:
    for bad in ("../etc", "a/b", "..", "", "-rf"):
        with pytest.raises(ValidationError):
            TenantFile(bad, "authorized_keys")
    with pytest.raises(ValidationError):
        TenantFiles(FakeHost({}), "../root")


# --- parsing -------------------------------------------------------------------------------------------------

def test_parse_stat_lines() -> None:
    assert parse_entry("MISSING") == MISSING
    assert parse_entry("symbolic link|777|1001|1001|1") == Entry("symlink", 0o777, 1001, 1001, 1)
    assert parse_entry("regular empty file|600|1001|1001|2").kind == "file"
    assert parse_entry("fifo|644|1001|1001|1").kind == "other"
    with pytest.raises(TenantFileError):
        parse_entry("garbage")


def test_parse_root_facts() -> None:
    assert parse_root_facts("tenant-x", "NOUSER\n") is None
    facts = parse_root_facts("tenant-x", "1001|1002\ndirectory|755|0|0|3\nMISSING\n")
    assert facts == HomeFacts(Account("tenant-x", 1001, 1002), ROOT_HOME, MISSING)
    with pytest.raises(TenantFileError):
        parse_root_facts("tenant-x", "1001|1002\n")


def test_parse_file_facts_keeps_content_verbatim_and_bounds_it() -> None:
    text = "directory|700|1001|1001|2\nregular file|600|1001|1001|1\nCONTENT\n" + CONTENT.decode()
    assert parse_file_facts(text) == FileFacts(GOOD_SSH, GOOD_FILE, CONTENT)
    assert parse_file_facts("MISSING\nMISSING\nNOCONTENT\n") == FileFacts(MISSING, MISSING, None)
    empty = parse_file_facts("directory|700|1001|1001|2\nregular empty file|600|1001|1001|1\nCONTENT\n")
    assert empty.content == b""
    huge = parse_file_facts("directory|700|1001|1001|2\nregular file|600|1001|1001|1\nCONTENT\n" + "k" * (2 << 20))
    assert huge.content is None
    with pytest.raises(TenantFileError):
        parse_file_facts("directory|700|1001|1001|2\n")


# --- the runner over a RemoteExecutor ----------------------------------------------------------------------------

class FakeHost:
    """A RemoteExecutor answering the two fact commands from fixed outputs; records every command."""

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers
        self.commands: list[str | list[str]] = []

    @property
    def host(self) -> str:
        return "fake"

    def register_secret(self, *values: object) -> None:
        return None

    def run(self, command: str | Sequence[str], *, stdin: bytes | None = None, check: bool = True,
            timeout: float | None = None) -> CommandResult:
        self.commands.append(command if isinstance(command, str) else list(command))
        text = command if isinstance(command, str) else " ".join(command)
        key = "tenant" if "pm-tenant-facts" in text else "root" if "NOUSER" in text else "other"
        return CommandResult(text, 0, self.answers.get(key, ""), "")

    def put_file(self, path: str, content: bytes, *, mode: int, owner: str = "root",
                 group: str | None = None) -> None:
        raise AssertionError("root must not upload into a tenant's home")

    def read_file(self, path: str) -> bytes:
        raise AssertionError("root must not read a tenant's file")

    def read_file_if_exists(self, path: str) -> bytes | None:
        raise AssertionError("root must not read a tenant's file")

    def file_stats(self, paths: Sequence[str]) -> dict[str, FileStat | None]:
        raise AssertionError("root must not stat inside a tenant's home")


ROOT_OK = "1001|1001\ndirectory|755|0|0|3\ndirectory|750|1001|1001|3\n"
TENANT_OK = "directory|700|1001|1001|2\nregular file|600|1001|1001|1\nCONTENT\n" + CONTENT.decode()


def test_converged_write_sends_only_the_two_fact_commands() -> None:
    host = FakeHost({"root": ROOT_OK, "tenant": TENANT_OK})
    report = TenantFiles(host, ACC.user).write(AUTHORIZED_KEYS, CONTENT)
    assert not report.changed and not report.content_changed
    assert len(host.commands) == 2
    tenant_facts = host.commands[1]
    assert isinstance(tenant_facts, list)
    assert tenant_facts[:7] == ["setpriv", "--reuid=1001", "--regid=1001", "--clear-groups", "--no-new-privs",
                                "--reset-env", "--"]


def test_edit_sees_trusted_content_and_every_home_command_runs_as_the_tenant() -> None:
    host = FakeHost({"root": ROOT_OK, "tenant": TENANT_OK})
    seen: list[bytes | None] = []

    def change(current: bytes | None) -> bytes:
        seen.append(current)
        return (current or b"") + b"ssh-ed25519 AAAAnew tenant\n"

    report = TenantFiles(host, ACC.user, stamp=lambda: STAMP).edit(AUTHORIZED_KEYS, change)
    assert seen == [CONTENT] and report.content_changed
    write = host.commands[-1]
    assert isinstance(write, list) and write[0] == "setpriv" and write[-2] == KEYS


def test_symlinked_ssh_dir_gives_the_edit_no_content() -> None:
    tenant = "symbolic link|777|1001|1001|1\nMISSING\nNOCONTENT\n"
    host = FakeHost({"root": ROOT_OK, "tenant": tenant})
    seen: list[bytes | None] = []

    def change(current: bytes | None) -> bytes:
        seen.append(current)
        return b"k\n"

    TenantFiles(host, ACC.user, stamp=lambda: STAMP).edit(AUTHORIZED_KEYS, change)
    assert seen == [None]
    assert [c[7] for c in host.commands[2:] if isinstance(c, list)] == ["mv", "mkdir", "sh"]


def test_missing_user_is_an_error_for_write_and_none_for_read() -> None:
    host = FakeHost({"root": "NOUSER\n"})
    with pytest.raises(TenantFileError, match="does not exist"):
        TenantFiles(host, ACC.user).write(AUTHORIZED_KEYS, CONTENT)
    assert TenantFiles(host, ACC.user).read(AUTHORIZED_KEYS) is None


def test_read_of_a_symlinked_home_is_none_and_write_is_refused() -> None:
    host = FakeHost({"root": "1001|1001\ndirectory|755|0|0|3\nsymbolic link|777|0|0|1\n"})
    assert TenantFiles(host, ACC.user).read(AUTHORIZED_KEYS) is None
    with pytest.raises(TenantHomeError, match="is a symlink"):
        TenantFiles(host, ACC.user).write(AUTHORIZED_KEYS, CONTENT)
    assert len(host.commands) == 2  # facts only: nothing was run against the link


def test_read_returns_the_tenants_text() -> None:
    host = FakeHost({"root": ROOT_OK, "tenant": TENANT_OK})
    assert TenantFiles(host, ACC.user).read(AUTHORIZED_KEYS) == CONTENT.decode()
