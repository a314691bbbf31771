"""FastAPI dependencies shared by the routers: the caller's identity, a database session, and
the feature flags of spec §1.5. Tests replace them with `app.dependency_overrides`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from prominence.auth.identity import AuthError, Identity, identify
from prominence.config import get_settings
from prominence.rest.errors import ApiError
from prominence.store.db import session_scope

DISABLED = "Functionality disabled"
# The cookie in which Airflow's UI keeps its user's token (HttpOnly, SameSite=Lax).
AIRFLOW_UI_COOKIE = "_token"


async def current_identity(request: Request) -> Identity:
    """Every route but /health requires a bearer JWT (spec §2). Without an Authorization header, a
    GET from the PROMINENCE page in Airflow's UI (same origin) carries the UI's token as a cookie;
    it is never enough for a request that changes anything."""
    authorization = request.headers.get("authorization", "")
    cookie = request.cookies.get(AIRFLOW_UI_COOKIE)
    if not authorization and cookie and request.method in ("GET", "HEAD"):
        authorization = f"Bearer {cookie}"
    try:
        return await identify(authorization)
    except AuthError as exc:
        raise ApiError(401, exc.message) from None


SessionFactory = Callable[[], AbstractContextManager[Session]]


def sessions() -> SessionFactory:
    """How the routes open sessions on our tables and Airflow's (tests give an in-memory one)."""
    return session_scope


def db_session(factory: Annotated[SessionFactory, Depends(sessions)]) -> Iterator[Session]:
    """A session for the route, committed when it returns and rolled back when it raises."""
    with factory() as session:
        yield session


def enabled(flag: str) -> Callable[[], None]:
    """A dependency refusing the route with 401 `Functionality disabled` unless setting `flag`
    (a feature flag of spec §1.5, e.g. `enable_kv`) is on; read per request, so tests may switch it."""

    def check() -> None:
        if not getattr(get_settings(), flag):
            raise ApiError(401, DISABLED)

    return check


kv_enabled = enabled("enable_kv")
data_enabled = enabled("enable_data")
exec_enabled = enabled("enable_exec")
snapshots_enabled = enabled("enable_snapshots")


UserDep = Annotated[Identity, Depends(current_identity)]
# Function scope: the session commits before the response is sent, so a client that has its
# answer finds what the request wrote, and a failed commit is still the request's error.
SessionDep = Annotated[Session, Depends(db_session, scope="function")]
# For routes that hand the work to the engine after a lookup: the engine opens its own sessions,
# so the lookup's session is closed first rather than holding a pooled connection meanwhile.
SessionsDep = Annotated[SessionFactory, Depends(sessions)]
