"""Vault login for CI through the CI's OIDC identity (GitHub Actions JWT -> Vault `auth/jwt` role).

No long-lived Vault secret is stored in CI: the job asks GitHub for a short-lived ID token with the Vault
audience and exchanges it for a Vault token bound to the `ci-deploy` role's policies.
"""

from __future__ import annotations

import requests

from toolkit.errors import RemoteError, SetupError
from toolkit.redact import REDACTOR


def github_id_token(request_url: str, request_token: str, audience: str, timeout: float = 10.0) -> str:
    """Fetch the job's OIDC token (needs `permissions: id-token: write` in the workflow)."""
    if not request_url or not request_token:
        raise SetupError(
            "CI Vault login", "no GitHub OIDC token is available to this job",
            "grant `permissions: id-token: write` to the job",
        )
    REDACTOR.register(request_token)
    reply = requests.get(
        request_url, params={"audience": audience},
        headers={"Authorization": f"Bearer {request_token}"}, timeout=timeout,
    )
    if reply.status_code != 200:
        raise RemoteError(f"GitHub refused the OIDC token request: HTTP {reply.status_code}")
    token = str(reply.json()["value"])
    REDACTOR.register(token)
    return token


def vault_jwt_login(vault_addr: str, jwt: str, role: str, mount: str = "jwt", timeout: float = 10.0) -> str:
    """Exchange a JWT for a Vault client token via the jwt auth method."""
    reply = requests.post(
        f"{vault_addr.rstrip('/')}/v1/auth/{mount}/login", json={"role": role, "jwt": jwt}, timeout=timeout,
    )
    if reply.status_code != 200:
        errors = reply.json().get("errors", []) if reply.headers.get("content-type", "").startswith(
            "application/json") else []
        raise RemoteError(f"Vault refused the CI login for role {role!r}: HTTP {reply.status_code} {errors}")
    token = str(reply.json()["auth"]["client_token"])
    REDACTOR.register(token)
    return token
