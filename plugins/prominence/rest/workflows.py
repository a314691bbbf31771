"""The workflows resource (spec §8): one route per endpoint, the work done in the engine and store."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field

from prominence.auth.identity import Identity
from prominence.contract.states import TERMINAL
from prominence.engine import workflows as engine
from prominence.contract.sandbox import Sandbox
from prominence.model.errors import SpecError
from prominence.model.views import Created
from prominence.model.workflow_views import workflow_view
from prominence.model.workflow import parse_workflow
from prominence.rest.body import json_body
from prominence.rest.deps import current_identity
from prominence.rest.errors import ApiError, bad_request
from prominence.rest.listing import ListQuery, list_query
from prominence.store import workflows as store
from prominence.store.db import session_scope

router = APIRouter(tags=["workflows"])
UserDep = Annotated[Identity, Depends(current_identity)]
RERUN_REFUSED = "Unable to find re-run workflow as the original workflow is not in a suitable state"


def get_own_workflow_or_400(session, workflow_id: int, identity: Identity):
    """Spec §2: 400 when unknown, 403 when someone else's."""
    row = store.get_workflow(session, workflow_id)
    if row is None:
        raise bad_request("Workflow does not exist")
    if row.owner != identity.username:
        raise ApiError(403, "Not authorized to access this workflow")
    return row


def _create(identity: Identity, data: Any, lineage: list[int] | None = None) -> int:
    try:
        description = parse_workflow(data)
    except SpecError as exc:
        raise bad_request(exc.message) from None
    return engine.submit_workflow(identity, description, lineage)


@router.post("/workflows", status_code=201, response_model=Created)
def create_workflow(identity: UserDep, data: Annotated[Any, Depends(json_body)]) -> dict:
    return {"id": _create(identity, data)}


@router.get("/workflows", response_model=list[dict[str, Any]])
def list_workflows(identity: UserDep, query: Annotated[ListQuery, Depends(list_query)]) -> list[dict]:
    with session_scope() as session:
        rows = store.find_workflows(
            session,
            identity.username,
            active=query.active,
            completed_limit=query.completed_limit,
            workflow_ids=query.ids,
            name=query.name,
        )
        rows = [row for row in rows if query.matches_labels(row.labels)]
        views = present(session, rows, detail=query.detail)
    if query.status:
        views = [view for view in views if view["status"] == query.status]
    return views


@router.get("/workflows/{workflow_id}", response_model=list[dict[str, Any]])
def describe_workflow(identity: UserDep, workflow_id: int) -> list[dict]:
    with session_scope() as session:
        row = store.get_workflow(session, workflow_id)
        if row is None or row.owner != identity.username:
            return []
        return present(session, [row], detail=True)


@router.delete("/workflows/{workflow_id}")
def delete_workflow(identity: UserDep, workflow_id: int) -> dict:
    return _delete(identity, [workflow_id])


@router.delete("/workflows")
def delete_many(identity: UserDep, id: Annotated[str | None, Query()] = None) -> dict:
    if not id:
        raise bad_request("a workflow id or list of workflow ids must be provided")
    try:
        ids = [int(part) for part in id.split(",") if part.strip()]
    except ValueError:
        raise bad_request("ids must be integers") from None
    return _delete(identity, ids)


def _delete(identity: Identity, workflow_ids: list[int]) -> dict:
    with session_scope() as session:
        if not engine.delete_workflows(session, identity, workflow_ids):
            raise bad_request("No such workflow(s)")
    return {}


@router.put("/workflows/{workflow_id}/remove")
def remove_workflow(identity: UserDep, workflow_id: int) -> dict:
    with session_scope() as session:
        get_own_workflow_or_400(session, workflow_id, identity)
        if not store.remove_from_queue(session, workflow_id):
            raise bad_request("Workflow is no longer in the queue")
    return {}


@router.put("/workflows/{workflow_id}/clone", status_code=201, response_model=Created)
def clone_workflow(identity: UserDep, workflow_id: int) -> dict:
    with session_scope() as session:
        spec = get_own_workflow_or_400(session, workflow_id, identity).spec
    if not spec:
        raise bad_request("Unable to get JSON description of the specified workflow")
    return {"id": _create(identity, spec)}


@router.put("/workflows/{workflow_id}", response_model=Created)
def rerun_workflow(identity: UserDep, workflow_id: int) -> dict:
    """Spec §8: a new workflow re-running only what failed (and what depended on it)."""
    with session_scope() as session:
        row = store.get_workflow(session, workflow_id)
        if row is None or row.owner != identity.username or row.status not in TERMINAL or row.in_queue:
            raise bad_request(RERUN_REFUSED)
    return {"id": _create(identity, row.spec, lineage=[row.id, *row.lineage])}


class Advance(BaseModel):
    job: str
    try_: int = Field(1, alias="try", ge=1)


@router.post("/workflows/{workflow_id}/advance", include_in_schema=False)
def advance_node(identity: UserDep, workflow_id: int, body: Advance) -> dict:
    """For the workflow's own DAG only (its job token): release jobs of a node, report its state."""
    with session_scope() as session:
        row = get_own_workflow_or_400(session, workflow_id, identity)
    if identity.job != row.uuid:
        raise ApiError(403, "Not authorized to access this workflow")
    if row.status in TERMINAL:
        return {"state": "stopped"}
    return engine.advance(row, body.job, body.try_).as_dict()


@router.get("/workflows/{workflow_id}/{job}/stdout", response_class=Response)
def job_stdout(identity: UserDep, workflow_id: int, job: str, offset: int = 0, node: str = "0") -> Response:
    return _log(identity, workflow_id, job, None, "stdout", offset, node)


@router.get("/workflows/{workflow_id}/{job}/stderr", response_class=Response)
def job_stderr(identity: UserDep, workflow_id: int, job: str, offset: int = 0, node: str = "0") -> Response:
    return _log(identity, workflow_id, job, None, "stderr", offset, node)


@router.get("/workflows/{workflow_id}/{job}/{instance}/stdout", response_class=Response)
def instance_stdout(identity: UserDep, workflow_id: int, job: str, instance: int, offset: int = 0, node: str = "0") -> Response:
    return _log(identity, workflow_id, job, instance, "stdout", offset, node)


@router.get("/workflows/{workflow_id}/{job}/{instance}/stderr", response_class=Response)
def instance_stderr(identity: UserDep, workflow_id: int, job: str, instance: int, offset: int = 0, node: str = "0") -> Response:
    return _log(identity, workflow_id, job, instance, "stderr", offset, node)


def _log(identity: Identity, workflow_id: int, job: str, index: int | None, stream: str, offset: int, node: str) -> Response:
    """The official CLI's `stderr W JOB [I]` sends the job name as `node` and 0 as the job
    (CLI.md §3): a `node` that is not a number is taken as the job name."""
    if not node.isdigit():
        job = node
    with session_scope() as session:
        row = get_own_workflow_or_400(session, workflow_id, identity)
        member = store.member_job(session, [row.id, *row.lineage], job, index)
        if member is None and index is None:
            member = store.member_job(session, [row.id, *row.lineage], job, 0)
    content = Sandbox.of(member.uuid).read_log(stream, offset) if member is not None else None
    if content is None:
        raise bad_request(f"{stream} does not exist")
    return Response(content, media_type="text/plain; charset=utf-8")


def present(session, rows: list, *, detail: bool) -> list[dict]:
    states = engine.progress(session, rows)
    return [workflow_view(row, *states[row.id], detail=detail) for row in rows]
