"""The jobs resource (spec §6): one route per endpoint, the work done in the engine and store."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from prominence.auth.identity import Identity
from prominence.config import get_settings
from prominence.contract.states import TERMINAL
from prominence.engine import live, staging
from prominence.contract.sandbox import Sandbox
from prominence.engine.submission import delete_jobs, submit_job
from prominence.model.errors import SpecError
from prominence.model.job import JobDescription, check_supported, parse_job
from prominence.model.views import Created, JobView, job_view
from prominence.rest.body import json_body
from prominence.rest.deps import current_identity
from prominence.rest.errors import ApiError, bad_request
from prominence.rest.listing import ListQuery, list_query
from prominence.store import jobs as store
from prominence.store.db import session_scope

router = APIRouter(tags=["jobs"])
UserDep = Annotated[Identity, Depends(current_identity)]
DISABLED = "Functionality disabled"


def get_own_job_or_400(session, job_id: int, identity: Identity):
    """Spec §2: 400 when unknown, 403 when someone else's (never 404, which the CLI misreads)."""
    row = store.get_job(session, job_id)
    if row is None:
        raise bad_request("Job does not exist")
    if row.owner != identity.username:
        raise ApiError(403, "Not authorized to access this job")
    return row


def _create(identity: Identity, data: Any) -> int:
    try:
        job = parse_job(data)
        check_supported(job)
        return submit_job(identity, job)
    except SpecError as exc:
        raise bad_request(exc.message) from None


JOB_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": JobDescription.model_json_schema(by_alias=True)}},
    }
}


@router.post("/jobs", status_code=201, response_model=Created, openapi_extra=JOB_BODY)
def create_job(identity: UserDep, data: Annotated[Any, Depends(json_body)]) -> dict:
    return {"id": _create(identity, data)}


@router.get("/jobs", response_model=list[JobView], response_model_exclude_none=True)
def list_jobs(identity: UserDep, query: Annotated[ListQuery, Depends(list_query)]) -> list[dict]:
    with session_scope() as session:
        rows = store.find_jobs(
            session,
            identity.username,
            active=query.active,
            completed_limit=query.completed_limit,
            job_ids=query.ids,
            workflow_id=query.workflow_id,
            name=query.name,
        )
        rows = [row for row in rows if query.matches_labels(row.labels)]
        views = present(session, rows, detail=query.detail)
    if query.status:
        views = [view for view in views if view["status"] == query.status]
    return views


@router.get("/jobs/{job_id}", response_model=list[JobView], response_model_exclude_none=True)
def describe_job(identity: UserDep, job_id: int) -> list[dict]:
    with session_scope() as session:
        row = store.get_job(session, job_id)
        if row is None or row.owner != identity.username:
            return []
        return present(session, [row], detail=True)


@router.put("/jobs/{job_id}/clone", status_code=201, response_model=Created)
def clone_job(identity: UserDep, job_id: int) -> dict:
    with session_scope() as session:
        spec = get_own_job_or_400(session, job_id, identity).spec
    return {"id": _create(identity, spec)}


@router.delete("/jobs/{job_id}")
def delete_job(identity: UserDep, job_id: int) -> dict:
    return _delete(identity, [job_id])


@router.delete("/jobs")
def delete_many(identity: UserDep, id: Annotated[str | None, Query()] = None) -> dict:
    if not id:
        raise bad_request("a job id or list of job ids must be provided")
    return _delete(identity, _parse_ids(id))


def _delete(identity: Identity, job_ids: list[int]) -> dict:
    with session_scope() as session:
        if not delete_jobs(session, identity, job_ids):
            raise bad_request("No such job(s)")
    return {}


@router.put("/jobs/{job_id}/remove")
def remove_job(identity: UserDep, job_id: int) -> dict:
    with session_scope() as session:
        get_own_job_or_400(session, job_id, identity)
        if not store.remove_from_queue(session, job_id):
            raise bad_request("Job is no longer in the queue")
    return {}


@router.get("/jobs/{job_id}/stdout", response_class=Response)
def job_stdout(identity: UserDep, job_id: int, offset: int = 0, node: int = 0) -> Response:
    return _log(identity, job_id, "stdout", offset)


@router.get("/jobs/{job_id}/stderr", response_class=Response)
def job_stderr(identity: UserDep, job_id: int, offset: int = 0, node: int = 0) -> Response:
    return _log(identity, job_id, "stderr", offset)


def _log(identity: Identity, job_id: int, stream: str, offset: int) -> Response:
    with session_scope() as session:
        job_uuid = get_own_job_or_400(session, job_id, identity).uuid
    content = Sandbox.of(job_uuid).read_log(stream, offset)
    if content is None:
        raise bad_request(f"{stream} does not exist")
    return Response(content, media_type="text/plain; charset=utf-8")


@router.post("/jobs/{job_id}/exec")
def exec_in_job(identity: UserDep, job_id: int) -> dict:
    raise ApiError(401, DISABLED)


@router.put("/jobs/{job_id}/snapshot")
@router.get("/jobs/{job_id}/snapshot")
def snapshot(identity: UserDep, job_id: int) -> dict:
    raise ApiError(401, DISABLED)


def present(session, rows: list, *, detail: bool) -> list[dict]:
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


def _parse_ids(raw: str) -> list[int]:
    try:
        return [int(part) for part in raw.split(",") if part.strip()]
    except ValueError:
        raise bad_request("ids must be integers") from None
