"""The FastAPI application served under the configured prefix."""

from __future__ import annotations

from fastapi import Depends, FastAPI

from prominence.auth.identity import current_identity
from prominence.rest import errors, health, jobs


def create_app() -> FastAPI:
    app = FastAPI(
        title="PROMINENCE",
        version="1",
        description="PROMINENCE batch jobs on Apache Airflow: the REST API of spec/API.md.",
    )
    errors.install(app)
    app.include_router(health.router)
    app.include_router(jobs.router, dependencies=[Depends(current_identity)])
    return app
