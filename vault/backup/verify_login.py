"""Who reads the restored data to prove a restore: a credential valid in the SOURCE cluster at backup time.

A forced restore replaces the target's token store with the source's: a token works only if it existed when the
snapshot was taken. A token minted after the backup (the quarterly drill's fresh CI login, an operator's new
login) is unknown to the restored cluster and every canary read is refused. An AppRole whose secret id existed at
backup time logs in inside the restored cluster whenever the restore runs: the scheduled drill uses the backup
AppRole that way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from toolkit.errors import ConfigError
from toolkit.redact import REDACTOR, Secret
from vault.client import VaultClient

ROLE_ID_ENV = "PM_RESTORE_VERIFY_ROLE_ID"
SECRET_ID_ENV = "PM_RESTORE_VERIFY_SECRET_ID"  # noqa: S105 - a variable name, not a secret
TOKEN_ENV = "PM_RESTORE_VERIFY_TOKEN"  # noqa: S105 - a variable name, not a secret
HOW = (f"set {ROLE_ID_ENV} + {SECRET_ID_ENV} (an AppRole of the source cluster, e.g. its backup AppRole: it logs in "
       f"inside the restored Vault, whatever the backup's age), or {TOKEN_ENV} / VAULT_TOKEN (a token that already "
       "existed when the backup was taken)")


@dataclass(frozen=True)
class VerifyLogin:
    token: Secret | None = None
    role_id: str = ""
    secret_id: Secret | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> VerifyLogin:
        """The AppRole if both parts are set, else ``PM_RESTORE_VERIFY_TOKEN``, else ``VAULT_TOKEN``."""
        role_id, secret_id = env.get(ROLE_ID_ENV, ""), env.get(SECRET_ID_ENV, "")
        if bool(role_id) != bool(secret_id):
            raise ConfigError(ROLE_ID_ENV if secret_id else SECRET_ID_ENV, f"is missing: set both or neither; {HOW}")
        if role_id:
            secret = Secret(secret_id)
            REDACTOR.register(secret)
            return cls(role_id=role_id, secret_id=secret)
        token = env.get(TOKEN_ENV) or env.get("VAULT_TOKEN", "")
        if not token:
            raise ConfigError(ROLE_ID_ENV, f"no credential to read the restored data: {HOW}")
        return cls(token=Secret(token))

    def token_on(self, target: VaultClient) -> Secret:
        """A token valid in the restored ``target``: the AppRole logs in there; a token is used as it is."""
        if self.role_id and self.secret_id is not None:
            config = target.config.replaced(token=None, role_id=self.role_id, secret_id=self.secret_id)
            with VaultClient(config, manage_token=False) as client:
                client.login()
                return client.token
        if self.token is None:
            raise ConfigError(ROLE_ID_ENV, f"no credential to read the restored data: {HOW}")
        return self.token


def as_verify_login(value: VerifyLogin | Secret) -> VerifyLogin:
    return value if isinstance(value, VerifyLogin) else VerifyLogin(token=value)
