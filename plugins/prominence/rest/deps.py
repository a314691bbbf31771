"""FastAPI dependencies shared by the routers: the caller's identity."""

from __future__ import annotations

from fastapi import Request

from prominence.auth.identity import AuthError, Identity, identify
from prominence.rest.errors import ApiError


async def current_identity(request: Request) -> Identity:
    """Every route but /health requires a bearer JWT (spec §2)."""
    try:
        return await identify(request.headers.get("authorization", ""))
    except AuthError as exc:
        raise ApiError(401, exc.message) from None
