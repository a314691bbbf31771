"""The jobs resource (spec §6): one route per endpoint, the work done in the engine and store."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from prominence.auth.identity import Identity
from prominence.config import get_settings
from prominence.contract.sandbox import Sandbox
from prominence.contract.states import TERMINAL
from prominence.engine import live, staging
from prominence.engine.submission import delete_jobs, submit_job
from prominence.model.job import check_mountable, check_supported, parse_job
from prominence.model.views import Created, JobView, job_view
from prominence.rest.body import json_body
from prominence.rest.common import LOG_RESPONSE, Id, LogReadDep, deleted_or_400, id_list, is_own, owned_or_400, serve_log
from prominence.rest.deps import SessionDep, SessionsDep, UserDep
from prominence.rest.errors import bad_request, errors
from prominence.rest.examples import JOB_BODY
from prominence.rest.listing import ListQuery, list_query
from prominence.store import jobs as store

router = APIRouter(tags=["jobs"])
OWNED = errors(400, 403)


def _create(identity: Identity, data: Any) -> int:
    job = parse_job(data)
    check_supported(job)
    check_mountable(job)
    return submit_job(identity, job)


@router.post("/jobs", status_code=201, response_model=Created, openapi_extra=JOB_BODY, responses=errors(400, 413))
def create_job(identity: UserDep, data: Annotated[Any, Depends(json_body)]) -> dict:
    return {"id": _create(identity, data)}


@router.get("/jobs", response_model=list[JobView], response_model_exclude_none=True, responses=errors(400))
def list_jobs(identity: UserDep, session: SessionDep, query: Annotated[ListQuery, Depends(list_query)]) -> JSONResponse:
    rows = store.find_jobs(
        session,
        identity.username,
        active=query.active,
        completed_limit=query.completed_limit,
        job_ids=query.ids,
        workflow_id=query.workflow_id,
        name=query.name,
        detail=query.detail,
    )
    views = query.filter_views(present(session, query.filter_rows(rows), detail=query.detail))
    # Sent as built (`job_view` makes them in JobView's shape; the schema stays JobView's):
    # validating 1,000 views again cost as much as reading them.
    return JSONResponse([{key: value for key, value in view.items() if value is not None} for view in views])


@router.get("/jobs/{job_id}", response_model=list[JobView], response_model_exclude_none=True)
def describe_job(identity: UserDep, session: SessionDep, job_id: Id) -> list[dict]:
    row = store.get_job(session, job_id)
    return present(session, [row], detail=True) if is_own(row, identity) else []


@router.put("/jobs/{job_id}/clone", status_code=201, response_model=Created, responses=OWNED)
def clone_job(identity: UserDep, sessions: SessionsDep, job_id: Id) -> dict:
    with sessions() as session:
        spec = owned_or_400(store.get_job(session, job_id), identity, "job").spec
    return {"id": _create(identity, spec)}


@router.delete("/jobs/{job_id}", responses=errors(400))
def delete_job(identity: UserDep, session: SessionDep, job_id: Id) -> dict:
    return deleted_or_400(delete_jobs(session, identity, [job_id]), "job")


@router.delete("/jobs", responses=errors(400))
def delete_many(identity: UserDep, session: SessionDep, id: Annotated[str | None, Query()] = None) -> dict:
    return deleted_or_400(delete_jobs(session, identity, id_list(id, "job")), "job")


@router.put("/jobs/{job_id}/remove", responses=OWNED)
def remove_job(identity: UserDep, session: SessionDep, job_id: Id) -> dict:
    owned_or_400(store.get_job(session, job_id), identity, "job")
    if not store.remove_from_queue(session, job_id):
        raise bad_request("Job is no longer in the queue")
    return {}


@router.get("/jobs/{job_id}/stdout", response_class=Response, responses=LOG_RESPONSE | OWNED)
def job_stdout(identity: UserDep, session: SessionDep, job_id: Id, read: LogReadDep, node: int = 0) -> Response:
    return serve_log(owned_or_400(store.get_job(session, job_id), identity, "job").uuid, "stdout", read)


@router.get("/jobs/{job_id}/stderr", response_class=Response, responses=LOG_RESPONSE | OWNED)
def job_stderr(identity: UserDep, session: SessionDep, job_id: Id, read: LogReadDep, node: int = 0) -> Response:
    return serve_log(owned_or_400(store.get_job(session, job_id), identity, "job").uuid, "stderr", read)


def present(session: Session, rows: list, *, detail: bool) -> list[dict]:
    """Views of `rows`; jobs not yet terminal get their live state from Airflow in one query."""
    pending = [row.id for row in rows if row.status not in TERMINAL]
    started = live.start_times(session, pending)
    waiting = "pending" if get_settings().use_pending_state else "idle"
    views = []
    for row in rows:
        outputs = staging.output_views(row.spec, row.uuid, Sandbox.of(row.uuid)) if detail else None
        if row.status in TERMINAL:
            views.append(job_view(row, row.status, row.start_time, detail, outputs))
        else:
            start = started.get(row.id)
            views.append(job_view(row, "running" if start else waiting, start, detail, outputs))
    return views
