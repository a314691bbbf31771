"""GET /health (spec §12), the one route without authentication: 204, or 409 naming what is down."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse
from sqlalchemy import select, text

from prominence.store.db import session_scope
from prominence.store.tables import ids

log = logging.getLogger(__name__)
router = APIRouter()


def database_ok() -> bool:
    """Airflow's database and ours (the same one unless Airflow's is SQLite) both answer."""
    with session_scope() as session:
        airflow = session.execute(text("SELECT 1")).scalar() == 1
        session.execute(select(ids.c.id).limit(1)).all()
        return airflow


def scheduler_ok() -> bool:
    """A scheduler heartbeating recently: without one, no job would ever start."""
    # Airflow's ORM loads only where used: this module is imported with the plugin in every task process.
    from airflow.jobs.job import most_recent_job

    with session_scope() as session:
        job = most_recent_job("SchedulerJob", session=session)
        return job is not None and job.is_alive()


Checks = dict[str, Callable[[], bool]]


def checks() -> Checks:
    """What must answer for the platform to run jobs, by the name /health reports."""
    return {"DATABASE": database_ok, "SCHEDULER": scheduler_ok}


@router.get("/health", status_code=204, response_class=Response, responses={409: {"description": "Components down"}})
def health(components: Annotated[Checks, Depends(checks)]) -> Response:
    failed = []
    for name, check in components.items():
        try:
            healthy = check()
        except Exception as exc:  # a check that cannot run is a failed check
            log.warning("Health check %s failed: %s", name, exc)
            healthy = False
        if not healthy:
            failed.append(name)
    if failed:
        return JSONResponse({"errors": ",".join(failed)}, status_code=409)
    return Response(status_code=204)
