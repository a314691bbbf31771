"""Who is calling (spec §2): our own HS256 tokens (users and jobs), Airflow's tokens, or access
tokens of the configured OIDC provider.

Nothing here knows HTTP: a refused token raises AuthError, which the REST app maps to a 401.
"""

from __future__ import annotations

import logging
import time

import jwt

from prominence.auth.caller import AuthError, Identity, email_of
from prominence.auth.oidc import oidc_identity
from prominence.auth.tokens import verify_token
from prominence.config import get_settings

log = logging.getLogger(__name__)
__all__ = ["AuthError", "Identity", "identify"]


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
        email = claims.get("email")
        return Identity(str(claims["username"]), str(claims.get("groups") or ""), claims.get("job"), email_of(email))
    username = await _airflow_user(token)
    if username:
        return Identity(username)
    if get_settings().oidc_url:
        return await oidc_identity(token, exp)
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
