"""The Mailu admin (SMTP) credential for a human: re-authentication, then a 900 s single-use view.

``issue_view`` logs the operator in through the admin userpass mount (the server demands the TOTP code: login MFA,
see ``vault.auth``), checks the identity holds the ``admin`` policy, wraps the transit *decrypt* of the tenant's
stored ciphertext (the clear password never passes through the issuer) and seals it with the username and webmail
URL in an envelope token (``vault.wrapping``). The operator's session token is revoked before returning: the view
outlives it (wrapping tokens are orphans), nothing else does.

``open_view`` spends the envelope, then the decrypt inside it: the username, password and webmail URL, once.
"""

from __future__ import annotations

import base64
import contextlib
from dataclasses import dataclass

from toolkit import validate
from toolkit.redact import REDACTOR, Secret
from vault import auth, paths, wrapping
from vault.client import VaultClient
from vault.errors import SecretNotFound, VaultAuthError, VaultError, WrappingTokenInvalid

KIND = "smtp_admin"
ADMIN_POLICY = "admin"


class NotAnAdmin(VaultAuthError):
    """The identity logged in (both factors checked) but does not hold the admin policy."""


class NoSuchTenant(VaultError):
    """The tenant has no SMTP credential in Vault."""


@dataclass(frozen=True)
class IssuedView:
    envelope: wrapping.Wrapped
    tenant: str
    secret: str
    version: int
    accessor: str
    """Accessor of the wrapped decrypt (the token that reveals the password)."""
    admin: str
    entity_id: str


@dataclass(frozen=True)
class SmtpView:
    tenant: str
    secret: str
    version: int
    accessor: str
    username: str
    webmail_url: str
    password: Secret


def _identity(session: VaultClient) -> tuple[list[str], str]:
    reply = session.read("auth/token/lookup-self") or {}
    data = reply.get("data") or {}
    return [str(p) for p in data.get("policies") or []], str(data.get("entity_id") or "")


def _end(session: VaultClient) -> None:
    try:
        with contextlib.suppress(VaultError):  # else the session token dies at its TTL
            session.write("auth/token/revoke-self")
    finally:
        session.close()


def issue_view(base: VaultClient, tenant_id: str, user: str, password: Secret, totp_code: str, *,
               ttl: int = wrapping.SMTP_VIEW_TTL) -> IssuedView:
    """Re-authenticate ``user`` (password + TOTP, checked by the server) and seal a view of the tenant's SMTP admin
    credential. ``base`` provides only the node addresses.

    Raises ``ValidationError`` (no or malformed code), ``VaultAuthError`` (wrong password or code; the server's
    refusal), ``NotAnAdmin``, ``NoSuchTenant``."""
    tenant = validate.tenant_id(tenant_id)
    REDACTOR.register(password)
    session = auth.admin_login(base, user, password, totp_code)
    try:
        policies, entity_id = _identity(session)
        if ADMIN_POLICY not in policies:
            raise NotAnAdmin(f"{user} passed both factors but does not hold the {ADMIN_POLICY!r} policy (has "
                             f"{', '.join(policies) or 'none'}): the SMTP credentials are shown to admins only; "
                             "the session was ended")
        try:
            view = wrapping.wrap_smtp_credential(session, tenant, ttl=ttl)
        except SecretNotFound:
            raise NoSuchTenant(f"{paths.smtp_admin(tenant)} does not exist: {tenant} is not a provisioned tenant; "
                               "nothing was issued") from None
        secret = paths.smtp_admin(tenant).logical
        envelope = wrapping.seal(session, view.password, kind=KIND, tenant=tenant, secret=secret,
                                 version=view.version, ttl=ttl, username=view.username, webmail_url=view.webmail_url)
    finally:
        _end(session)
    return IssuedView(envelope, tenant, secret, view.version, view.password.accessor, user, entity_id)


def open_view(client: VaultClient, token: Secret | str, tenant_id: str) -> SmtpView:
    """Spend the view: username, password and webmail URL. Raises ``WrappingTokenInvalid`` once used or expired."""
    tenant = validate.tenant_id(tenant_id)
    envelope = wrapping.open_envelope(client, token, kind=KIND)
    if envelope.tenant != tenant:
        raise WrappingTokenInvalid(f"this token holds the SMTP credentials of {envelope.tenant!r}, not {tenant!r}: "
                                   "it was opened and cannot be used again")
    plaintext = wrapping.unwrap(client, envelope.inner).get("plaintext")
    if not plaintext:
        raise WrappingTokenInvalid("the inner token held no decrypted password")
    password = Secret(base64.b64decode(str(plaintext)).decode())
    REDACTOR.register(password)
    return SmtpView(tenant, envelope.secret, envelope.version, envelope.accessor, envelope.fields.get("username", ""),
                    envelope.fields.get("webmail_url", ""), password)
