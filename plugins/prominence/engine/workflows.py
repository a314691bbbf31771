"""Accepting, advancing, finishing and deleting workflows (spec §7–8).

A workflow is a row of its own plus a generated DAG file (see `workflow_dag`). Its jobs are
ordinary jobs, created lazily: the DAG's node for job J asks `advance` (through the REST API)
to release J's instances, at most WORKFLOW_MAX_IDLE of the workflow's jobs idle at a time, and
learns from the answer when all of them have ended. One function decides what an instance
needs, for node retries and reruns alike: an instance is released when it has no job yet, or
when its latest job failed in an earlier try of the node or in an earlier workflow of the
rerun lineage; a successful job is never run again.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from sqlalchemy.orm import Session

from prominence.auth.identity import Identity
from prominence.auth.tokens import mint_token
from prominence.config import get_settings
from prominence.contract.states import TERMINAL, JobStatus
from prominence.contract.workflows import dag_id_for, token_file
from prominence.engine import live, notify, runs, staging
from prominence.engine.submission import TOKEN_MARGIN_SECONDS, fail_member, submit_job
from prominence.engine.workflow_files import graph_of, remove_dag_file, write_dag_file
from prominence.model.errors import SpecError
from prominence.model.job import parse_job
from prominence.model.workflow import WorkflowDescription, parse_workflow
from prominence.store import jobs as job_store
from prominence.store import workflows as store
from prominence.store.db import commit_store, session_scope
from prominence.store.signals import release_wanted

log = logging.getLogger(__name__)
WORKFLOW_DELETED = "Workflow deleted by user"
JOB_OF_DELETED_WORKFLOW = "Job part of a workflow which was deleted by user"
# A workflow token lives as long as a job token of the longest walltime would.
WORKFLOW_TOKEN_SECONDS = TOKEN_MARGIN_SECONDS + 2 * 525_600 * 60


@lru_cache(maxsize=256)
def _description(workflow_id: int, spec_key: str) -> WorkflowDescription:
    return parse_workflow(json.loads(spec_key))


def description_of(row: Any) -> WorkflowDescription:
    """The parsed description of a stored workflow (cached: nodes ask for it every poll)."""
    return _description(row.id, json.dumps(row.spec, sort_keys=True))


def submit_workflow(identity: Identity, description: WorkflowDescription, lineage: list[int] | None = None) -> int:
    """Store the workflow, mint its token, then write its DAG file (the scheduler starts the run).

    Each job's artifacts are checked first, as `POST /jobs` checks them (a SpecError, a 400); a
    factory's job is checked as its first instance (its parameters substituted into uploaded
    objects' names): each later instance is checked when it is released, and fails then if an
    object it names is missing (a sweep of millions is not listed at submission)."""
    for job in description.jobs:
        staging.plan(identity, description.instance(job.name, 0)[0])
    now = int(time.time())
    with session_scope(write=True) as session:
        workflow_id = job_store.next_id(session, "workflow")
        store.insert_workflow(
            session,
            id=workflow_id,
            uuid=str(uuid.uuid4()),
            owner=identity.username,
            groups=identity.groups,
            name=description.name,
            status=JobStatus.IDLE.value,
            spec=description.stored,
            labels=description.labels or None,
            create_time=now,
            in_queue=True,
            leave_in_queue=description.policies.leave_in_queue,
            lineage=lineage or [],
            email=identity.email,
            notify=notify.owed(identity, description.stored.get("notifications")),
        )
        row = store.get_workflow(session, workflow_id)
        path = token_file(workflow_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(
                mint_token(identity.username, identity.groups, WORKFLOW_TOKEN_SECONDS, job=row.uuid, email=identity.email)
            )
    write_dag_file(graph_of(workflow_id, identity.username, description.name, now, description))
    # Its first jobs are released at once (engine/workflow_events.py), not when the DAG starts.
    release_wanted(workflow_id)
    return workflow_id


@dataclass
class NodeState:
    """How far job `job` of a workflow has got, as `advance` reports it to the node."""

    state: str
    total: int
    done: int = 0
    failed: int = 0
    active: int = 0
    released: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "total": self.total,
            "done": self.done,
            "failed": self.failed,
            "active": self.active,
            "released": len(self.released),
        }


def good(row: Any, description: WorkflowDescription) -> bool:
    """Spec §7.3: a job fails a workflow unless it completed with its tasks succeeding, or
    `reportJobSuccessOnTaskFailure` says task failures count as success."""
    if row.status != JobStatus.COMPLETED:
        return False
    if row.succeeded:
        return True
    job = description.job(row.workflow_job)
    return bool(job and job.policies.report_job_success_on_task_failure)


def advance(row: Any, job: str, try_number: int) -> NodeState:
    """Release what instances of `job` the idle cap allows, and say where the node stands.

    Instances are released lowest index first, so the ones released so far in a lineage are
    always a prefix of range(size): the next new one follows the highest index seen. Only
    aggregates are read, so a poll costs the same for 10 instances as for 100,000."""
    description = description_of(row)
    spec = description.job(job)
    if spec is None:
        return NodeState("failed", 0)
    factory = description.factory_of(job)
    size = description.size_of(job)
    lineage = [row.id, *row.lineage]
    node = NodeState("running", size)
    released, last_index, retries = 0, -1, 0
    with session_scope() as session:
        # Held until the releases below are stored: a repeated or concurrent advance of this
        # workflow then reads them and releases nothing twice.
        store.serialise_advances(session, row.id)
        for group in store.member_summary(session, lineage, job):
            released += group.n
            last_index = max(last_index, -1 if group.last_index is None else group.last_index)
            if group.status not in TERMINAL:
                node.active += group.n
            elif good(group, description):
                node.done += group.n
            elif group.workflow_id != row.id or (group.workflow_try or 0) < try_number:
                retries += group.n
            else:
                node.failed += group.n
        todo = retries + size - released
        room = max(get_settings().workflow_max_idle - _idle(session, row.id), 0) if todo else 0
        release: list[int | None] = []
        if room and retries:
            failures_ok = spec.policies.report_job_success_on_task_failure
            release = store.retry_indices(session, lineage, job, try_number, task_failures_ok=failures_ok, limit=room)
        if room > len(release) and released < size:
            first = last_index + 1
            release += list(range(first, min(size, first + room - len(release)))) if factory else [None]
        identity = Identity(row.owner, row.groups, email=row.email)
        for index in release:
            job_id = _release(identity, row, description, job, index, try_number)
            if job_id is not None:
                node.released.append(job_id)
        # Last: this update locks the workflow's row, which each release share-locks meanwhile.
        if node.released:
            store.mark_started(session, row.id, int(time.time()))
    if node.released or node.active or todo > len(release):
        node.active += len(node.released)
        return node
    node.state = "failed" if node.failed else "succeeded"
    return node


def _idle(session: Session, workflow_id: int) -> int:
    active = store.active_member_ids(session, workflow_id)
    return len(active) - len(live.start_times(session, active))


def _release(
    identity: Identity, row: Any, description: WorkflowDescription, job: str, index: int | None, try_number: int
) -> int | None:
    """Submit one instance; None when it is not stored (released already, or the workflow ended)."""
    stored, parameters = description.instance(job, index)
    name = f"{row.name}/{job}" if index is None else f"{row.name}/{job}/{index}"
    member = {
        "name": name,
        "workflow_job": job,
        "workflow_index": index,
        "workflow_try": try_number,
        "parameters": parameters,
    }
    instance = parse_job(stored, in_workflow=True)
    try:
        return submit_job(identity, instance, workflow_id=row.id, member=member)
    except SpecError as exc:
        # Refused now though accepted with the workflow (an artifact deleted since): the job
        # fails, rather than the node's request failing and being retried for ever.
        return fail_member(identity, instance, row.id, member, exc.message)


def progress(session: Session, rows: list[Any]) -> dict[int, tuple[str, dict[str, int]]]:
    """Live status and spec §7.4 `progress` of each workflow, from its jobs (and its lineage's),
    counted by one aggregate query per workflow."""
    waiting_word = "pending" if get_settings().use_pending_state else "idle"
    result = {}
    for row in rows:
        description = description_of(row)
        counts = {"total": description.total, "done": 0, "failed": 0, "queued": 0, "waiting": 0}
        ended_here = False
        for group in store.member_summary(session, [row.id, *row.lineage]):
            if group.status not in TERMINAL:
                counts["queued"] += group.n
                continue
            ended_here = ended_here or group.workflow_id == row.id
            if good(group, description):
                counts["done"] += group.n
            elif group.workflow_id == row.id:
                counts["failed"] += group.n
        counts["waiting"] = counts["total"] - counts["done"] - counts["failed"] - counts["queued"]
        status = row.status
        if status not in TERMINAL:
            started = ended_here or bool(live.start_times(session, store.active_member_ids(session, row.id)))
            status = "running" if started else waiting_word
        result[row.id] = (status, counts)
    return result


def delete_workflows(session: Session, identity: Identity, workflow_ids: list[int]) -> int:
    """Spec §8: kill the caller's active workflows among `workflow_ids` and all their jobs."""
    done = 0
    now = int(time.time())
    for workflow_id in workflow_ids:
        row = store.get_workflow(session, workflow_id)
        if row is None or row.owner != identity.username or row.status in TERMINAL:
            continue
        if not store.finish_workflow(session, workflow_id, status=JobStatus.DELETED.value, reason=WORKFLOW_DELETED, end_time=now):
            continue
        members = _delete_members(session, workflow_id, now)
        commit_store(session)
        # A release that was storing a member while the workflow was being marked deleted has
        # committed by now (store.workflows.insert_member): sweep once more, so it stops too.
        members += _delete_members(session, workflow_id, now)
        commit_store(session)
        runs.stop_runs(session, members)
        stop_dag_run(session, workflow_id)
        remove_dag_file(workflow_id)
        done += 1
    return done


def _delete_members(session: Session, workflow_id: int, now: int) -> list[int]:
    return [
        job_id
        for job_id in store.active_member_ids(session, workflow_id)
        if job_store.finish_job(session, job_id, status=JobStatus.DELETED.value, reason=JOB_OF_DELETED_WORKFLOW, end_time=now)
    ]


def stop_dag_run(session: Session, workflow_id: int) -> None:
    """Fail the workflow's run so its waiting nodes stop (the listener finds it already deleted)."""
    # Airflow's ORM loads only where used: this module is imported with the plugin in every task process.
    from airflow.api.common.mark_tasks import set_dag_run_state_to_failed
    from airflow.models.dagbag import DBDagBag
    from airflow.models.dagrun import DagRun
    from airflow.utils.state import DagRunState

    for run in DagRun.find(dag_id=dag_id_for(workflow_id), session=session):
        if run.state in (DagRunState.QUEUED, DagRunState.RUNNING):
            dag = DBDagBag().get_dag_for_run(run, session=session)
            runs.committed(
                session,
                lambda dag=dag, run_id=run.run_id: set_dag_run_state_to_failed(
                    dag=dag, run_id=run_id, commit=True, session=session
                ),
                f"workflow {workflow_id}: failing its run",
            )
