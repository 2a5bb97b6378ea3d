"""Attacks of a hostile tenant on the day-2 design (issue 10): intent in Vault, carried out by the engine.

The attacker holds what a tenant is given: a Vault token of the tenant policy and a shell on its own VPS as its
tenant user; it may also submit a stack file. One tenant is deployed for the module with the real engine, on the
sandbox's real OpenBao, BIND, Hostwinds simulator and OpenSSH host; day-2 tasks run as an operator runs them
(`invoke` in a subprocess). Every test asserts the attack failed (with the message the operator sees) and that
nothing changed for the victim: the intent, Vault keys, root's files and keys on the VPS.

Four of them first documented holes (strict xfail) that are closed now: a directory hidden behind an unsearchable
~/.ssh (moved aside by the tenant-side write), ~/.ssh/authorized_keys2 (sshd drop-in pins AuthorizedKeysFile), a
tenant login shell stalling the outside checks (they authenticate only) and a refresh hashing through a tenant link
(the tenant's file is read as the tenant, capped).
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from components.mailu_live import read_files_digest
from fleet import day2_ops
from fleet.access_check import AccessProbe, private_key
from fleet.intent import DkimIntent, TenantIntent, apply, fresh_selector, save, selectors_in_vault, taken_selectors
from mailu.config import MailuConfig
from mailu.hardening import HardeningConfig
from sandbox.settings import SandboxSettings
from tests.fixtures.mailu import make_ed25519
from tests.fixtures.tenant import TenantProject
from tests.security.day2_hostile import ADMIN, TENANT, Hostile
from toolkit import stack_files
from toolkit.authorized_keys import key_blob
from toolkit.tenant_files import AUTHORIZED_KEYS, TenantFiles
from vault import keys, kv, paths
from vault.client import VaultClient
from vault.errors import KeyReuseRefused, VaultPermissionDenied

TENANT_ID = "hostile1"
VICTIM_ID = "victim1"
LONG = pytest.mark.timeout(900)
HIDE_A_DIRECTORY = ("rm -rf .ssh/authorized_keys && mkdir .ssh/authorized_keys && touch .ssh/authorized_keys/x "
                    "&& chmod 0600 .ssh")
"""~/.ssh made unsearchable (its owner's own right) so root's tenant-side look cannot see authorized_keys is a
directory; the write that follows then cannot rename over it."""


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory,
            tenant_sandbox: tuple[SandboxSettings, dict[str, str]]) -> Iterator[Hostile]:
    settings, env = tenant_sandbox
    project = TenantProject(tmp_path_factory.mktemp("day2-attacks") / "project", settings, env)
    project.write_stack(TENANT_ID)
    project.init(TENANT_ID)
    project.pulumi("up", "--yes", "--skip-preview", stack=TENANT_ID)
    outputs = project.outputs(TENANT_ID)
    with VaultClient.from_env(project.sandbox_env) as vault:
        yield Hostile(project, TENANT_ID, f"{TENANT_ID}.{settings.zone}", str(outputs["tenant_user"]),
                      str(outputs["main_ip"]), vault)


@pytest.fixture(scope="module")
def victim(hostile: Hostile) -> TenantIntent:
    """Another tenant's Vault records (keys, DKIM key, intent), written by the system as a deploy writes them."""
    domain = f"{VICTIM_ID}.{hostile.domain.split('.', 1)[1]}"
    for kind in ("admin_ssh", "tenant_ssh"):
        keys.store_ssh_keypair(hostile.vault, VICTIM_ID, kind, algorithm="ed25519")
    selector, nonce = "pm20261101", secrets.token_hex(8)
    keys.store_dkim_key(hostile.vault, domain, selector, nonce=nonce)
    return save(hostile.vault, TenantIntent(VICTIM_ID, DkimIntent(selector, nonce, history=(selector,))))


def _stored(vault: VaultClient, *secret_paths: paths.SecretPath) -> dict[str, tuple[int, dict[str, Any]]]:
    return {p.logical: (kv.current_version(vault, p), dict(kv.read(vault, p).data)) for p in secret_paths}


def _kv_attacks(client: VaultClient, path: paths.SecretPath, forged: dict[str, Any],
                version: int) -> list[Callable[[], object]]:
    """Every way a KV v2 token could read, write, shorten or erase ``path`` (at ``version``, known to the attacker
    or guessed)."""
    mount, rest = path.mount, path.path
    return [
        lambda: kv.read(client, path),
        lambda: kv.read(client, path, 1),
        lambda: kv.write(client, path, forged, cas=version),
        lambda: client.write(path.data_api, {"data": forged}),
        lambda: client.call(lambda c: c.secrets.kv.v2.patch(path=rest, secret=forged, mount_point=mount),
                            what="patch"),
        lambda: client.write(f"{mount}/delete/{rest}", {"versions": [1]}),
        lambda: client.write(f"{mount}/destroy/{rest}", {"versions": [1]}),
        lambda: client.write(path.metadata_api, {"max_versions": 1}),
        lambda: client.delete(path.data_api),
        lambda: client.delete(path.metadata_api),
    ]


# --- the tenant's Vault token ---------------------------------------------------------------------------------
def test_tenant_token_cannot_read_or_write_any_intent(hostile: Hostile, victim: TenantIntent) -> None:
    own, other = paths.intent(TENANT_ID), paths.intent(VICTIM_ID)
    before = _stored(hostile.vault, own, other)
    grace = {"public_key": make_ed25519().public, "fingerprint": "x", "vault_version": 1, "until": "2999-01-01T00:00Z"}
    forged = {**hostile.intent().to_data(), "admin_ssh": {"generation": 1, "connect_versions": [1], "grace": [grace]}}
    with hostile.tenant_vault() as token:
        for path in (own, other):
            for attack in _kv_attacks(token, path, forged, before[path.logical][0]):
                with pytest.raises(VaultPermissionDenied, match="permission denied"):
                    attack()
    assert _stored(hostile.vault, own, other) == before


def test_tenant_token_cannot_read_list_or_write_dkim_keys(hostile: Hostile, victim: TenantIntent) -> None:
    own = paths.dkim(hostile.domain, hostile.intent().dkim.selector)
    other_domain = f"{VICTIM_ID}.{hostile.domain.split('.', 1)[1]}"
    other = paths.dkim(other_domain, victim.dkim.selector)
    before = _stored(hostile.vault, own, other)
    with hostile.tenant_vault() as token:
        for path in (own, other):
            forged = {"private_key": "x", "state": "pending", "nonce": "0" * 16}
            for attack in _kv_attacks(token, path, forged, before[path.logical][0]):
                with pytest.raises(VaultPermissionDenied, match="permission denied"):
                    attack()
        for domain in (hostile.domain, other_domain):
            with pytest.raises(VaultPermissionDenied):
                token.list(f"dkim/metadata/{domain}")
    assert _stored(hostile.vault, own, other) == before


def test_tenant_cannot_plant_a_pending_key_at_its_next_dkim_selector(hostile: Hostile) -> None:
    """The re-adoption attack: a key the tenant made (so knows), pending, with a guessed nonce, at the selector the
    next rotation will pick. The tenant cannot write under dkim/<domain>/ at all."""
    intent = hostile.intent()
    before = selectors_in_vault(hostile.vault, hostile.domain)
    for day in (dt.date.today(), dt.date.today() + dt.timedelta(days=1)):
        target = paths.dkim(hostile.domain, fresh_selector(day, taken_selectors(hostile.vault, hostile.domain,
                                                                                intent)))
        planted = {"private_key": "attacker's", "public_key": "QUJD", "state": "pending", "nonce": "0" * 16}
        with hostile.tenant_vault() as token, pytest.raises(VaultPermissionDenied, match="permission denied"):
            kv.write(token, target, planted, cas=0)
    assert selectors_in_vault(hostile.vault, hostile.domain) == before
    assert hostile.intent() == intent


def test_a_key_found_at_the_next_selector_is_never_adopted(hostile: Hostile, victim: TenantIntent) -> None:
    """The system side, should a key sit at the next dated selector (left by an earlier owner or run): the
    rotation skips that selector, and the engine's key write refuses to take it over even for the intent's nonce."""
    domain = f"{VICTIM_ID}.{hostile.domain.split('.', 1)[1]}"
    now = dt.datetime.now(dt.UTC)
    planted_selector = fresh_selector(now.date(), taken_selectors(hostile.vault, domain, victim))
    planted_path = paths.dkim(domain, planted_selector)
    kv.write(hostile.vault, planted_path, {"private_key": "known to the attacker", "public_key": "QUJD",
                                           "state": "pending", "nonce": "0" * 16}, cas=0)
    before = _stored(hostile.vault, planted_path)
    rotated = day2_ops.rotate_dkim(hostile.vault, domain)(victim, now)
    assert rotated.dkim.selector != planted_selector and planted_selector not in rotated.dkim.history
    with pytest.raises(KeyReuseRefused, match="a selector is never used twice"):
        keys.store_dkim_key(hostile.vault, domain, planted_selector, nonce=victim.dkim.nonce)
    assert _stored(hostile.vault, planted_path) == before


def test_tenant_token_cannot_write_the_keys_root_access_trusts(hostile: Hostile) -> None:
    admin, tenant = paths.ssh_key(TENANT_ID, ADMIN), paths.ssh_key(TENANT_ID, TENANT)
    before = _stored(hostile.vault, admin, tenant)
    evil = make_ed25519()
    with hostile.tenant_vault() as token:
        assert kv.read(token, tenant).data["public_key"]  # its own key: readable, that is all
        for path in (admin, tenant):
            for attack in _kv_attacks(token, path, {"public_key": evil.public}, before[path.logical][0])[2:]:
                with pytest.raises(VaultPermissionDenied, match="permission denied"):
                    attack()
        with pytest.raises(VaultPermissionDenied):
            kv.read(token, admin)
    assert _stored(hostile.vault, admin, tenant) == before


# --- the tenant's shell, then a day-2 task --------------------------------------------------------------------
@LONG
def test_authorized_keys_with_options_and_foreign_keys_never_reach_root(hostile: Hostile) -> None:
    evil = make_ed25519()
    planted = b"\n".join([
        f'command="cp /bin/bash /tmp/pm-rootbash; chmod 4755 /tmp/pm-rootbash" {hostile.public_key(ADMIN)}'.encode(),
        f'environment="LD_PRELOAD=/tmp/evil.so",no-pty {evil.public}'.encode(),
        f'from="*",permitopen="*:*" {evil.public}'.encode(),
        b"ssh-ed25519 AAAA!!not-base64 garbage", b"\x00\xff\xfe binary" * 64, b"ssh-rsa " + b"A" * 200_000, b""])
    hostile.as_tenant("cat >> ~/.ssh/authorized_keys && printf 'LD_PRELOAD=/tmp/evil.so\\n' > ~/.ssh/environment",
                      stdin=planted)
    world, versions = hostile.root_world(), {k: kv.current_version(hostile.vault, paths.ssh_key(TENANT_ID, k))
                                             for k in (ADMIN, TENANT)}
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=100)).strftime("%Y-%m-%dT%H:%M:%SZ")
    hostile.run("rotate.due", "--now", later)  # both SSH keys are due: one `up` rewrites root's and the tenant's keys
    assert {k: kv.current_version(hostile.vault, paths.ssh_key(TENANT_ID, k)) for k in (ADMIN, TENANT)} == {
        k: v + 1 for k, v in versions.items()}
    hostile.assert_keys_as_intended()
    assert key_blob(evil.public) not in hostile.root_blobs()
    probe = AccessProbe(hostile.address)
    assert not probe.login_works(evil.private, "root") and not probe.login_works(evil.private, hostile.user)
    assert hostile.root_world() == world  # no /tmp/pm-rootbash, nothing of root's touched
    hostile.assert_converged()


@LONG
def test_fifo_as_authorized_keys_neither_hangs_nor_stops_a_dkim_rotation(hostile: Hostile) -> None:
    before = hostile.intent()
    hostile.as_tenant("rm -f ~/.ssh/authorized_keys && mkfifo ~/.ssh/authorized_keys")
    world = hostile.root_world()
    hostile.run("rotate.dkim")
    after = hostile.intent()
    assert after.dkim.selector not in before.dkim.history and after.dkim.nonce != before.dkim.nonce
    stored = kv.read(hostile.vault, paths.dkim(hostile.domain, after.dkim.selector)).data
    assert stored["state"] == "active" and stored["nonce"] == after.dkim.nonce
    hostile.assert_keys_as_intended()
    assert hostile.root_world() == world
    hostile.assert_converged()


@LONG
def test_stack_file_cannot_add_a_mail_copy_or_bring_back_an_old_selector(hostile: Hostile) -> None:
    intent = hostile.intent()
    old = next(s for s in intent.dkim.history if s != intent.dkim.selector)
    hostile.project.write_stack(TENANT_ID, dkim_selector=old, migration={"copy_from": "127.77.0.9"})
    try:
        preview = hostile.project.pulumi("preview", "--expect-no-changes", "--diff", stack=TENANT_ID)
        assert "mail-copy" not in preview.stdout and "MailDataCopy" not in preview.stdout
    finally:
        hostile.project.write_stack(TENANT_ID)
    assert hostile.intent() == intent


@LONG
def test_huge_sparse_file_and_link_as_authorized_keys_do_not_block_revoke_or_regenerate(hostile: Hostile) -> None:
    revoked = kv.current_version(hostile.vault, paths.tenant_ssh(TENANT_ID))
    hostile.as_tenant("rm -f ~/.ssh/authorized_keys && truncate -s 4T ~/.ssh/authorized_keys")
    world, admin = hostile.root_world(), hostile.root_blobs()
    hostile.run("ssh.revoke", "--kind", "tenant", "--reason", "security test")  # its own checks: v<revoked> refused
    assert hostile.tenant_blobs() == set() and hostile.intent().tenant_ssh.revoked
    assert (hostile.root_world(), hostile.root_blobs()) == (world, admin)

    hostile.tenant_job("rm -f .ssh/authorized_keys && ln -s /root/.ssh/authorized_keys .ssh/authorized_keys")
    hostile.run("ssh.regenerate", "--kind", "tenant")
    assert (hostile.root_world(), hostile.root_blobs()) == (world, admin)
    hostile.assert_keys_as_intended()
    key = private_key(hostile.vault, paths.tenant_ssh(TENANT_ID), kv.current_version(hostile.vault,
                                                                                    paths.tenant_ssh(TENANT_ID)))
    assert key is not None and AccessProbe(hostile.address).login_works(key, hostile.user)
    old = private_key(hostile.vault, paths.tenant_ssh(TENANT_ID), revoked)
    assert old is not None and not AccessProbe(hostile.address).login_works(old, hostile.user)
    hostile.assert_converged()


@LONG
def test_hidden_directory_does_not_block_an_admin_revoke(hostile: Hostile) -> None:
    old = kv.current_version(hostile.vault, paths.ssh_key(TENANT_ID, ADMIN))
    hostile.as_tenant(f"cd && {HIDE_A_DIRECTORY}")
    hostile.run("ssh.revoke", "--kind", "admin", "--reason", "security test")
    assert hostile.intent().pending is None
    old_key = private_key(hostile.vault, paths.ssh_key(TENANT_ID, ADMIN), old)
    assert old_key is not None and not AccessProbe(hostile.address).login_works(old_key, "root")
    assert kv.current_version(hostile.vault, paths.ssh_key(TENANT_ID, ADMIN)) == old + 1
    hostile.assert_keys_as_intended()
    hostile.assert_converged()


@LONG
def test_ssh_dir_linked_to_roots_is_not_followed_by_up_refresh(hostile: Hostile) -> None:
    hostile.as_tenant("mv ~/.ssh ~/.ssh.before-link && ln -s /root/.ssh ~/.ssh")
    world, admin = hostile.root_world(), hostile.root_blobs()
    hostile.project.pulumi("up", "--refresh", "--yes", "--skip-preview", stack=TENANT_ID)
    assert (hostile.root_world(), hostile.root_blobs()) == (world, admin)
    with hostile.root() as root:
        assert root.run(["stat", "-c", "%F %U", "--", f"{hostile.home}/.ssh"]).stdout.split()[0] == "directory"
    hostile.assert_keys_as_intended()
    hostile.assert_converged()


# --- attacks that worked before the fixes of their holes (kept as regressions) ------------------------------
def test_hidden_directory_re_planted_by_the_tenant_blocks_every_tenant_key_write(hostile: Hostile) -> None:
    try:
        for _ in range(2):  # the tenant's job plants it again after each attempt
            hostile.tenant_job(HIDE_A_DIRECTORY)
            hostile.converge_tenant_keys()
        hostile.assert_keys_as_intended()
    finally:
        hostile.tenant_job("chmod 0700 .ssh && rm -rf .ssh/authorized_keys")
        hostile.converge_tenant_keys()


def test_key_planted_in_authorized_keys2_outlives_revocation(hostile: Hostile) -> None:
    evil = make_ed25519()
    hostile.as_tenant("cat > ~/.ssh/authorized_keys2", stdin=f"{evil.public}\n".encode())
    pid = "/run/pm-attack-sshd.pid"
    with hostile.root() as root:
        TenantFiles(root, hostile.user).write(AUTHORIZED_KEYS, b"")  # what a revocation writes for the tenant
        root.run(["/usr/sbin/sshd", "-f", "/etc/ssh/sshd_config", "-o", f"ListenAddress={hostile.address}:2222",
                  "-o", "HostKey=/etc/ssh/pm_host_ed25519_key", "-o", f"PidFile={pid}"])
        try:
            assert not AccessProbe(hostile.address, port=2222).login_works(evil.private, hostile.user), \
                "a key the tenant planted in authorized_keys2 opens the account after revocation"
        finally:
            root.run(f"kill $(cat {pid})", check=False)
            hostile.tenant_job("rm -f .ssh/authorized_keys2")
            hostile.converge_tenant_keys()


def test_tenant_shell_startup_file_breaks_the_outside_checks(hostile: Hostile) -> None:
    hostile.as_tenant("cp ~/.bashrc ~/.bashrc.orig && { echo 'exit 7'; cat ~/.bashrc.orig; } > ~/.bashrc")
    try:
        version = kv.current_version(hostile.vault, paths.tenant_ssh(TENANT_ID))
        key = private_key(hostile.vault, paths.tenant_ssh(TENANT_ID), version)
        assert key is not None and AccessProbe(hostile.address).login_works(key, hostile.user)
    finally:
        hostile.tenant_job("mv -f .bashrc.orig .bashrc")


def test_refresh_reads_root_files_through_a_link_in_the_tenant_home(hostile: Hostile) -> None:
    config = apply(stack_files.load(hostile.project.root / "stacks", TENANT_ID), hostile.intent())
    hardening = HardeningConfig(tenant_id=TENANT_ID, tenant_public_keys=tuple(hostile.wanted_keys(TENANT)))
    hostile.as_tenant("mv ~/.ssh ~/.ssh.before-link && mkdir ~/decoy && ln -s /root/.ssh ~/.ssh")
    try:
        with hostile.root() as root:
            through_root = read_files_digest(root, MailuConfig.from_tenant_config(config), hardening)
            hostile.tenant_job("rm .ssh && ln -s decoy .ssh")
            through_decoy = read_files_digest(root, MailuConfig.from_tenant_config(config), hardening)
        assert through_root == through_decoy, "root looked through the tenant's link"
    finally:
        hostile.tenant_job("rm -f .ssh && rmdir decoy && mv .ssh.before-link .ssh")

