"""The FastAPI application served under the configured prefix."""

from __future__ import annotations

import functools
import gc
import sys
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi

from prominence.engine import runs, workflow_events
from prominence.rest import data, errors, health, job_commands, jobs, kv, ui, usage, workflows
from prominence.rest.deps import current_identity

# The api-server's threads mostly wait on the database and the network; a thread coming back
# from a wait gets the GIL after at most this long instead of Python's default 5 ms, so a create
# holding our SQLite writer lock is not kept waiting behind CPU-bound threads.
SWITCH_INTERVAL_SECONDS = 0.001


class StartHousekeeping:
    """Tunes the process and starts the release of workflow jobs whose parents ended
    (engine/workflow_events.py: it submits jobs, so it needs the token signing key, the
    api-server's alone) when Starlette builds its middleware (at the first request), so only the
    api-server does (not every process that loads the plugin). Reconciliation runs in a component
    of its own (engine/reconciler.py).

    The objects loaded by then (about 750,000: Airflow's apps, FAB's, ours) live as long as the
    process, yet each full garbage collection went through them all: 420 ms during which no
    request moved. Frozen, they are left out of collections (10-17 ms each then)."""

    def __init__(self, app) -> None:
        self.app = app
        sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
        freeze_loaded_objects()
        workflow_events.watcher.start()

    async def __call__(self, scope, receive, send) -> None:
        await self.app(scope, receive, send)


@functools.cache
def freeze_loaded_objects() -> None:
    """Once per process: a test run builds many apps, and what a freeze holds is never freed."""
    gc.freeze()


VALIDATION_FAILED = {
    "description": errors.ERROR_DESCRIPTIONS[400],
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
}


def create_app() -> FastAPI:
    app = FastAPI(
        title="PROMINENCE",
        version="1",
        description="PROMINENCE batch jobs on Apache Airflow: the PROMINENCE REST API (docs/api.md).",
    )
    errors.install(app)
    app.add_middleware(StartHousekeeping)
    app.include_router(health.router)
    app.include_router(ui.router)
    for resource in (jobs, job_commands, workflows, kv, data, usage):
        app.include_router(resource.router, dependencies=[Depends(current_identity)], responses=errors.errors(401))
    app.openapi = lambda: openapi_document(app)
    runs.wake_scheduler_on_new_runs()
    return app


def openapi_document(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document with the errors this API really answers: request validation fails
    with a 400 ErrorBody (rest/errors.py), never with FastAPI's 422 and its schemas."""
    if app.openapi_schema is None:
        document = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        for path in document["paths"].values():
            for operation in path.values():
                if operation["responses"].pop("422", None) is not None:
                    operation["responses"].setdefault("400", VALIDATION_FAILED)
        schemas = document["components"]["schemas"]
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        app.openapi_schema = document
    return app.openapi_schema
