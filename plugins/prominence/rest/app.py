"""The FastAPI application served under the configured prefix."""

from __future__ import annotations

from fastapi import FastAPI

from prominence.rest import health


def create_app() -> FastAPI:
    app = FastAPI(title="PROMINENCE", version="1", description="PROMINENCE batch jobs on Apache Airflow")
    app.include_router(health.router)
    return app
