"""The FastAPI application served under the configured prefix."""

from __future__ import annotations

import sys

from fastapi import Depends, FastAPI

from prominence.engine import reaper
from prominence.rest.deps import current_identity
from prominence.rest import data, errors, health, jobs, workflows, kv


# The api-server's threads mostly wait on the database and the network; a thread coming back
# from a wait gets the GIL after at most this long instead of Python's default 5 ms, so a create
# holding our SQLite writer lock is not kept waiting behind CPU-bound threads.
SWITCH_INTERVAL_SECONDS = 0.001


class StartHousekeeping:
    """Starts the reaper with the first request and tunes the process when Starlette builds its
    middleware (also at the first request), so only the api-server does either (not every process
    that loads the plugin), without a request-wrapping middleware."""

    def __init__(self, app) -> None:
        self.app = app
        sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)

    async def __call__(self, scope, receive, send) -> None:
        reaper.start_once()
        await self.app(scope, receive, send)


def create_app() -> FastAPI:
    app = FastAPI(
        title="PROMINENCE",
        version="1",
        description="PROMINENCE batch jobs on Apache Airflow: the REST API of spec/API.md.",
    )
    errors.install(app)
    app.add_middleware(StartHousekeeping)
    app.include_router(health.router)
    app.include_router(jobs.router, dependencies=[Depends(current_identity)])
    app.include_router(workflows.router, dependencies=[Depends(current_identity)])
    app.include_router(kv.router, dependencies=[Depends(current_identity)])
    app.include_router(data.router, dependencies=[Depends(current_identity)])
    return app
