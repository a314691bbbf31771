"""The workflows resource (spec §8): one route per endpoint, the work done in the engine and store."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.orm import Session

from prominence.auth.identity import Identity
from prominence.contract.states import TERMINAL, JobStatus
from prominence.engine import workflows as engine
from prominence.model.views import Created
from prominence.model.workflow import parse_workflow
from prominence.model.workflow_views import WorkflowView, workflow_view
from prominence.rest.body import json_body
from prominence.rest.common import LOG_RESPONSE, Id, LogReadDep, deleted_or_400, id_list, is_own, owned_or_400, serve_log
from prominence.rest.deps import SessionDep, SessionsDep, UserDep
from prominence.rest.errors import ApiError, bad_request, errors
from prominence.rest.examples import WORKFLOW_BODY
from prominence.rest.listing import ListQuery, list_query
from prominence.store import workflows as store

router = APIRouter(tags=["workflows"])
RERUN_REFUSED = "Unable to find re-run workflow as the original workflow is not in a suitable state"
OWNED = errors(400, 403)
VIEWS = {"response_model": list[WorkflowView], "response_model_exclude_none": True}


def _create(identity: Identity, data: Any, lineage: list[int] | None = None) -> int:
    return engine.submit_workflow(identity, parse_workflow(data), lineage)


@router.post("/workflows", status_code=201, response_model=Created, openapi_extra=WORKFLOW_BODY, responses=errors(400, 413))
def create_workflow(identity: UserDep, data: Annotated[Any, Depends(json_body)]) -> dict:
    return {"id": _create(identity, data)}


@router.get("/workflows", **VIEWS, responses=errors(400))
def list_workflows(identity: UserDep, session: SessionDep, query: Annotated[ListQuery, Depends(list_query)]) -> list[dict]:
    rows = store.find_workflows(
        session,
        identity.username,
        active=query.active,
        completed_limit=query.completed_limit,
        workflow_ids=query.ids,
        name=query.name,
    )
    return query.filter_views(present(session, query.filter_rows(rows), detail=query.detail))


@router.get("/workflows/{workflow_id}", **VIEWS)
def describe_workflow(identity: UserDep, session: SessionDep, workflow_id: Id) -> list[dict]:
    row = store.get_workflow(session, workflow_id)
    return present(session, [row], detail=True) if is_own(row, identity) else []


@router.delete("/workflows/{workflow_id}", responses=errors(400))
def delete_workflow(identity: UserDep, session: SessionDep, workflow_id: Id) -> dict:
    return deleted_or_400(engine.delete_workflows(session, identity, [workflow_id]), "workflow")


@router.delete("/workflows", responses=errors(400))
def delete_many(identity: UserDep, session: SessionDep, id: Annotated[str | None, Query()] = None) -> dict:
    return deleted_or_400(engine.delete_workflows(session, identity, id_list(id, "workflow")), "workflow")


@router.put("/workflows/{workflow_id}/remove", responses=OWNED)
def remove_workflow(identity: UserDep, session: SessionDep, workflow_id: Id) -> dict:
    owned_or_400(store.get_workflow(session, workflow_id), identity, "workflow")
    if not store.remove_from_queue(session, workflow_id):
        raise bad_request("Workflow is no longer in the queue")
    return {}


@router.put("/workflows/{workflow_id}/clone", status_code=201, response_model=Created, responses=OWNED)
def clone_workflow(identity: UserDep, sessions: SessionsDep, workflow_id: Id) -> dict:
    with sessions() as session:
        spec = owned_or_400(store.get_workflow(session, workflow_id), identity, "workflow").spec
    if not spec:
        raise bad_request("Unable to get JSON description of the specified workflow")
    return {"id": _create(identity, spec)}


@router.put("/workflows/{workflow_id}", response_model=Created, responses=errors(400))
def rerun_workflow(identity: UserDep, sessions: SessionsDep, workflow_id: Id) -> dict:
    """A new workflow re-running only what failed (and what depended on it)."""
    with sessions() as session:
        row = store.get_workflow(session, workflow_id)
    if not is_own(row, identity) or row.status not in TERMINAL or row.in_queue:
        raise bad_request(RERUN_REFUSED)
    return {"id": _create(identity, row.spec, lineage=[row.id, *row.lineage])}


class Advance(BaseModel):
    job: str
    try_: int = Field(1, alias="try", ge=1)


@router.post("/workflows/{workflow_id}/advance", include_in_schema=False)
def advance_node(identity: UserDep, sessions: SessionsDep, workflow_id: Id, data: Annotated[Any, Depends(json_body)]) -> dict:
    """For the workflow's own DAG only (its job token): release jobs of a node, report its state.
    The body is read by `json_body` once the token is checked, never by FastAPI before."""
    try:
        body = Advance.model_validate(data)
    except ValidationError:
        raise bad_request("invalid advance request: a job name and a try from 1") from None
    with sessions() as session:
        row = owned_or_400(store.get_workflow(session, workflow_id), identity, "workflow")
    if identity.job != row.uuid:
        raise ApiError(403, "Not authorized to access this workflow")
    if row.status in TERMINAL and row.status != JobStatus.COMPLETED:
        return {"state": "stopped"}
    # A workflow completed by its last job's end still answers its nodes, which then succeed.
    return engine.advance(row, body.job, body.try_).as_dict()


@router.get("/workflows/{workflow_id}/{job}/stdout", response_class=Response, responses=LOG_RESPONSE | OWNED)
def job_stdout(identity: UserDep, session: SessionDep, workflow_id: Id, job: str, read: LogReadDep, node: str = "0") -> Response:
    return serve_log(_member_uuid(session, identity, workflow_id, job, None, node), "stdout", read)


@router.get("/workflows/{workflow_id}/{job}/stderr", response_class=Response, responses=LOG_RESPONSE | OWNED)
def job_stderr(identity: UserDep, session: SessionDep, workflow_id: Id, job: str, read: LogReadDep, node: str = "0") -> Response:
    return serve_log(_member_uuid(session, identity, workflow_id, job, None, node), "stderr", read)


@router.get("/workflows/{workflow_id}/{job}/{instance}/stdout", response_class=Response, responses=LOG_RESPONSE | OWNED)
def instance_stdout(
    identity: UserDep, session: SessionDep, workflow_id: Id, job: str, instance: Id, read: LogReadDep, node: str = "0"
) -> Response:
    return serve_log(_member_uuid(session, identity, workflow_id, job, instance, node), "stdout", read)


@router.get("/workflows/{workflow_id}/{job}/{instance}/stderr", response_class=Response, responses=LOG_RESPONSE | OWNED)
def instance_stderr(
    identity: UserDep, session: SessionDep, workflow_id: Id, job: str, instance: Id, read: LogReadDep, node: str = "0"
) -> Response:
    return serve_log(_member_uuid(session, identity, workflow_id, job, instance, node), "stderr", read)


def _member_uuid(session: Session, identity: Identity, workflow_id: int, job: str, index: int | None, node: str) -> str | None:
    """The job of instance `index` of workflow job `job` (its latest in the rerun lineage).
    The official CLI's `stderr W JOB [I]` sends the job name as `node` and 0 as the job:
    a `node` that is not a number is taken as the job name."""
    if not node.isdigit():
        job = node
    row = owned_or_400(store.get_workflow(session, workflow_id), identity, "workflow")
    lineage = [row.id, *row.lineage]
    member = store.member_job(session, lineage, job, index)
    if member is None and index is None:
        member = store.member_job(session, lineage, job, 0)
    return member.uuid if member is not None else None


def present(session: Session, rows: list, *, detail: bool) -> list[dict]:
    states = engine.progress(session, rows)
    return [workflow_view(row, *states[row.id], detail=detail) for row in rows]
