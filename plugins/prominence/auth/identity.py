"""Who is calling (spec §2): our own HS256 tokens (users and jobs), or Airflow's tokens.

Nothing here knows HTTP: a refused token raises AuthError, which the REST app maps to a 401.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import jwt

from prominence.auth.tokens import verify_token

log = logging.getLogger(__name__)
AUTH_FAILURE = "Authentication failure"


class AuthError(Exception):
    """The bearer could not be identified (spec §2: a 401)."""

    def __init__(self, message: str = AUTH_FAILURE) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Identity:
    username: str
    groups: str = ""
    # UUID of the job (or workflow) when the bearer is a job token.
    job: str | None = None

    @property
    def group_list(self) -> list[str]:
        return [g for g in self.groups.split(",") if g]


async def identify(authorization: str) -> Identity:
    """The caller behind an `Authorization: Bearer <JWT>` header value; the JWT needs a future `exp`."""
    parts = authorization.split()
    if len(parts) < 2:
        raise AuthError()
    token = parts[1]
    try:
        exp = jwt.decode(token, options={"verify_signature": False}).get("exp")
    except jwt.PyJWTError:
        raise AuthError() from None
    if not isinstance(exp, (int, float)) or exp < time.time():
        raise AuthError()
    claims = verify_token(token)
    if claims is not None:
        return Identity(str(claims["username"]), str(claims.get("groups") or ""), claims.get("job"))
    username = await _airflow_user(token)
    if username:
        return Identity(username)
    raise AuthError()


async def _airflow_user(token: str) -> str | None:
    """The user name behind a token issued by Airflow's auth manager (`POST /auth/token`)."""
    try:
        # Airflow's auth manager exists only in the api-server: looked up when a token needs it.
        from airflow.api_fastapi.app import get_auth_manager

        user = await get_auth_manager().get_user_from_token(token)
    except Exception as exc:  # an invalid token is an authentication failure, whatever the cause
        log.info("Token rejected by the Airflow auth manager: %s", exc)
        return None
    return user.get_name() or None
