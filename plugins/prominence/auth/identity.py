"""Who is calling (spec §2): our own HS256 tokens (users and jobs), or Airflow's tokens."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import jwt
from fastapi import Request

from prominence.auth.tokens import verify_token
from prominence.rest.errors import ApiError

log = logging.getLogger(__name__)
AUTH_FAILURE = "Authentication failure"


@dataclass(frozen=True)
class Identity:
    username: str
    groups: str = ""
    # UUID of the job (or workflow) when the bearer is a job token.
    job: str | None = None

    @property
    def group_list(self) -> list[str]:
        return [g for g in self.groups.split(",") if g]


async def current_identity(request: Request) -> Identity:
    """FastAPI dependency: every route but /health requires a bearer JWT with a future `exp`."""
    parts = request.headers.get("authorization", "").split()
    if len(parts) < 2:
        raise ApiError(401, AUTH_FAILURE)
    token = parts[1]
    try:
        exp = jwt.decode(token, options={"verify_signature": False}).get("exp")
    except jwt.PyJWTError:
        raise ApiError(401, AUTH_FAILURE) from None
    if not isinstance(exp, (int, float)) or exp < time.time():
        raise ApiError(401, AUTH_FAILURE)
    claims = verify_token(token)
    if claims is not None:
        return Identity(str(claims["username"]), str(claims.get("groups") or ""), claims.get("job"))
    username = await _airflow_user(token)
    if username:
        return Identity(username)
    raise ApiError(401, AUTH_FAILURE)


async def _airflow_user(token: str) -> str | None:
    """The user name behind a token issued by Airflow's auth manager (`POST /auth/token`)."""
    try:
        from airflow.api_fastapi.app import get_auth_manager

        user = await get_auth_manager().get_user_from_token(token)
    except Exception as exc:  # an invalid token is an authentication failure, whatever the cause
        log.info("Token rejected by the Airflow auth manager: %s", exc)
        return None
    return user.get_name() or None
