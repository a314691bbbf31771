"""Tokens we sign ourselves (HS256, spec §2 step 3): user tokens from `make token` and job tokens."""

from __future__ import annotations

import time

import jwt

from prominence.config import get_settings

USER_TOKEN_LIFETIME = 365 * 24 * 3600


class MissingSecret(RuntimeError):
    """No signing key is configured: never sign or accept tokens with a guessable default."""


def signing_secret() -> str:
    secret = get_settings().job_token_secret
    if secret is None or not secret.get_secret_value():
        raise MissingSecret("PROMINENCE_JOB_TOKEN_SECRET is not set: `make up` generates one in .prominence/secrets.env")
    return secret.get_secret_value()


def mint_token(
    username: str,
    groups: str = "",
    lifetime: int = USER_TOKEN_LIFETIME,
    job: str | None = None,
    secret: str | None = None,
    email: str | None = None,
) -> str:
    """A JWT the API accepts as `username`; `job` binds it to one job's UUID, `email` is where
    the holder's notifications go. `secret` is the signing key when settings are not this
    process's (scripts/stack.py computing the stack's env)."""
    claims: dict[str, object] = {"username": username, "groups": groups, "exp": int(time.time()) + lifetime}
    if job is not None:
        claims["job"] = job
    if email:
        claims["email"] = email
    return jwt.encode(claims, secret or signing_secret(), algorithm="HS256")


def verify_token(token: str) -> dict | None:
    """The claims of a token we signed, or None if it is not ours, expired or incomplete."""
    try:
        claims = jwt.decode(token, signing_secret(), algorithms=["HS256"])
    except jwt.PyJWTError:
        return None
    if "username" not in claims or "groups" not in claims:
        return None
    return claims
