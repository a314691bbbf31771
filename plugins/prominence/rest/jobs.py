"""The jobs resource (spec §6): one route per endpoint, the work done in the engine and store."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from prominence.auth.identity import Identity
from prominence.engine.submission import delete_jobs, submit_job
from prominence.model.job import check_mountable, check_supported, parse_job
from prominence.model.views import Created, JobView
from prominence.rest.body import json_body
from prominence.rest.common import LOG_RESPONSE, Id, LogReadDep, deleted_or_400, id_list, is_own, owned_or_400, serve_log
from prominence.rest.deps import SessionDep, SessionsDep, UserDep
from prominence.rest.errors import bad_request, errors
from prominence.rest.examples import JOB_BODY
from prominence.rest.job_views import encoded, json_array, listed, present
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
def list_jobs(identity: UserDep, session: SessionDep, query: Annotated[ListQuery, Depends(list_query)]) -> Response:
    # Sent as built (`job_view` makes them in JobView's shape; the schema stays JobView's):
    # validating 1,000 views again cost as much as reading them.
    if not query.detail:
        return Response(listed(session, identity.username, query), media_type="application/json")
    rows = store.find_jobs(
        session,
        identity.username,
        active=query.active,
        completed_limit=query.completed_limit,
        job_ids=query.ids,
        workflow_id=query.workflow_id,
        name=query.name,
    )
    views = query.filter_views(present(session, query.filter_rows(rows), detail=True))
    return Response(json_array(encoded(view) for view in views), media_type="application/json")


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
