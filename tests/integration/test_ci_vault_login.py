"""The CI's Vault login (`invoke ci.vault-login` logic) against the real OpenBao jwt auth method: a token
signed by the CI issuer for the right repository logs in with the system policy; others are refused."""

from __future__ import annotations

import base64
import json
import time

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from pipeline.vault_oidc import vault_jwt_login
from toolkit.errors import ConfigError, RemoteError
from vault.ci_auth import configure_ci_jwt
from vault.client import VaultClient


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwt(key: rsa.RSAPrivateKey, claims: dict[str, object]) -> str:
    header = _b64(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
    body = _b64(json.dumps(claims).encode())
    signature = key.sign(f"{header}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{header}.{body}.{_b64(signature)}"


def _claims(**overrides: object) -> dict[str, object]:
    now = int(time.time())
    return {"iss": "https://ci.example", "aud": "vault", "sub": "repo:org/mail-infra:ref:refs/heads/main",
            "repository": "org/mail-infra", "ref": "refs/heads/main", "iat": now, "nbf": now - 5,
            "exp": now + 300, **overrides}


@pytest.fixture(scope="module")
def issuer_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def configured(vault_root: VaultClient, issuer_key: rsa.RSAPrivateKey) -> VaultClient:
    public = issuer_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    for _ in range(2):  # idempotent
        configure_ci_jwt(vault_root, role="ci-deploy", validation_pubkeys=[public], oidc_discovery_url=None,
                         bound_issuer="https://ci.example",
                         bound_claims={"repository": "org/mail-infra", "ref": "refs/heads/main"})
    return vault_root


def test_pipeline_token_logs_in_with_the_system_policy(
    configured: VaultClient, issuer_key: rsa.RSAPrivateKey, openbao_dev: object
) -> None:
    address = openbao_dev.address  # type: ignore[attr-defined]
    token = vault_jwt_login(address, _jwt(issuer_key, _claims()), "ci-deploy")
    me = configured.with_token(token).read("auth/token/lookup-self") or {}
    assert "system" in me["data"]["policies"]


@pytest.mark.parametrize("bad", [
    {"repository": "evil/fork"}, {"ref": "refs/heads/feature"}, {"aud": "other"}, {"exp": int(time.time()) - 60},
], ids=["other-repo", "other-branch", "wrong-audience", "expired"])
def test_other_tokens_are_refused(
    configured: VaultClient, issuer_key: rsa.RSAPrivateKey, openbao_dev: object, bad: dict[str, object]
) -> None:
    with pytest.raises(RemoteError, match="Vault refused the CI login"):
        vault_jwt_login(openbao_dev.address, _jwt(issuer_key, _claims(**bad)), "ci-deploy")  # type: ignore[attr-defined]


def test_token_signed_by_another_key_is_refused(configured: VaultClient, openbao_dev: object) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(RemoteError):
        vault_jwt_login(openbao_dev.address, _jwt(stranger, _claims()), "ci-deploy")  # type: ignore[attr-defined]


def test_unbound_role_is_refused(vault_root: VaultClient) -> None:
    with pytest.raises(ConfigError, match="bound_claims"):
        configure_ci_jwt(vault_root, role="open", bound_claims={})
