"""`invoke smtp.credentials|unwrap`: the Mailu admin (SMTP) credentials for a human, behind re-authentication.

    invoke smtp.credentials --tenant acme --user alice [--totp 123456]   # password asked (or one line of stdin)
    invoke smtp.unwrap --tenant acme                                      # the token on stdin or at the prompt

`credentials` logs the operator in through the admin userpass mount; the server demands the TOTP code (login MFA),
so a password alone gets nothing. An admin identity then gets a single-use token valid 900 s holding the wrapped
transit decrypt of the tenant's password with its username and webmail URL (``vault.handover_smtp``); the clear
password never passes through this task. `unwrap` shows username, password and webmail URL, once. Both write an
audit event (who, the secret path and version, the token accessor); Vault's audit device records the wrapped decrypt.
"""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task

from tasks_lib.day2 import COMMON_HELP, connection_env, console
from tasks_lib.handover_io import audited, print_token, read_secret, require_declared
from toolkit.errors import ConfigError
from vault import handover_smtp, wrapping
from vault.errors import WrappingTokenInvalid

__all__ = ["credentials", "unwrap"]


@task(help={"tenant": "tenant id", "user": "your admin login (default $PM_ADMIN_USER)",
            "totp": "the current code of your authenticator (asked for when not given)",
            "work_dir": COMMON_HELP["work_dir"], "audit_log": COMMON_HELP["audit_log"]})
def credentials(_c: Context, tenant: str, user: str = "", totp: str = "", work_dir: str = "",
                audit_log: str = "") -> None:
    """Re-authenticate (password + TOTP) and get a 900 s single-use view of the tenant's Mailu admin credentials."""
    env = connection_env()
    with audited("smtp.credentials", tenant, audit_log, env) as run:
        login = user or env.get("PM_ADMIN_USER", "")
        run.details.update(vault_user=login, path=f"smtp/{tenant}/admin")
        if not login:
            raise ConfigError("user", "give --user (or PM_ADMIN_USER): your admin login on Vault's userpass mount")
        require_declared(tenant, work_dir)
        password = read_secret(f"Vault password of {login}")
        code = totp or read_secret("TOTP code", register=False).reveal()
        with wrapping.client_without_token(env) as base:
            issued = handover_smtp.issue_view(base, tenant, login, password, code)
        run.details.update(entity_id=issued.entity_id, version=issued.version, accessor=issued.accessor,
                           envelope_accessor=issued.envelope.accessor, ttl=issued.envelope.ttl)
    console.print(f"{issued.secret} v{issued.version} for {login}: single-use token, valid {issued.envelope.ttl} s, "
                  f"accessor {issued.accessor}:", highlight=False, markup=False)
    print_token(issued.envelope.token)
    console.print(f"Open it once: `invoke smtp.unwrap --tenant {tenant}` (the token on stdin or at the prompt), or by "
                  "hand: `bao unwrap <token>` shows username, webmail URL and an inner token; "
                  "`bao unwrap -field=plaintext <inner token> | base64 -d` the password.", highlight=False,
                  markup=False)


@task(help={"tenant": "tenant id", "audit_log": COMMON_HELP["audit_log"]})
def unwrap(_c: Context, tenant: str, audit_log: str = "") -> None:
    """Open an SMTP credentials token (stdin or a hidden prompt): username, password and webmail URL, once."""
    env = connection_env()
    with audited("smtp.unwrap", tenant, audit_log, env) as run:
        run.details.update(path=f"smtp/{tenant}/admin")
        token = read_secret("SMTP credentials token")
        with wrapping.client_without_token(env) as client:
            try:
                view = handover_smtp.open_view(client, token, tenant)
            except WrappingTokenInvalid as exc:
                raise WrappingTokenInvalid(
                    f"{exc}. If you did not open this token yourself, someone else may have seen the password: "
                    f"reset it (`invoke rotate.smtp --tenant {tenant} --incident <id> --emergency`) and ask for a new "
                    "view") from None
        run.details.update(version=view.version, accessor=view.accessor, username=view.username)
    print(f"username: {view.username}")
    print(f"password: {view.password.reveal()}")
    print(f"webmail:  {view.webmail_url}", flush=True)
