"""Accepting, deleting and cloning jobs: our row first (never lose a job), then its Airflow run."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from sqlalchemy.orm import Session

from prominence.auth.identity import Identity
from prominence.auth.tokens import mint_token
from prominence.config import get_settings
from prominence.engine import dispatch, runs, staging
from prominence.engine.sandbox import Sandbox
from prominence.model.job import JobDescription, parse_job
from prominence.store import jobs as store
from prominence.store.db import commit_store, session_scope

log = logging.getLogger(__name__)
NO_MATCHING_RESOURCES = "No matching resources"
DELETED_BY_USER = "Job deleted by user"
# Job tokens outlive the job's walltime by this margin (spec §2 uses 10 days).
TOKEN_MARGIN_SECONDS = 10 * 24 * 3600


def sandbox_of(job_uuid: str) -> Sandbox:
    return Sandbox(get_settings().sandboxes / job_uuid)


def submit_job(
    identity: Identity, job: JobDescription, workflow_id: int | None = None, member: dict[str, Any] | None = None
) -> int:
    """Store the job, committed, then have its run created; a job that cannot run ends `failed`.

    `member`: row values of a workflow's job (its composite name, name in the workflow, instance)."""
    stored = job.to_stored()
    # Raises SpecError (a 400) before anything is stored when an artifact names no object.
    plan = staging.plan(identity, stored)
    job_uuid = str(uuid.uuid4())
    token = mint_token(
        identity.username, identity.groups, lifetime=TOKEN_MARGIN_SECONDS + 2 * job.walltime_seconds, job=job_uuid
    )
    sandbox = sandbox_of(job_uuid)
    sandbox.create(stored, token)
    staging.prepare(sandbox, stored, plan)
    now = int(time.time())
    with session_scope(write=True) as session:
        job_id = store.next_id(session, "job")
        row = {
            "id": job_id,
            "uuid": job_uuid,
            "owner": identity.username,
            "groups": identity.groups,
            "name": stored.get("name", ""),
            "status": "idle",
            "spec": stored,
            "labels": stored.get("labels"),
            "create_time": now,
            "in_queue": True,
            "leave_in_queue": bool(stored.get("policies", {}).get("leaveInQueue")) and workflow_id is None,
            "workflow_id": workflow_id,
        }
        store.insert_job(session, **(row | (member or {})))
    dispatch.enqueue(dispatch.Pending(job_id, job_uuid, job, workflow_id, now))
    return job_id


def queue(session: Session, job_id: int, job_uuid: str, job: JobDescription, workflow_id: int | None, created: int) -> None:
    """Create the job's run, or end the job `failed` when no worker could ever hold it."""
    if job.total_cpus > get_settings().worker_cpus:
        store.finish_job(session, job_id, status="failed", reason=NO_MATCHING_RESOURCES, end_time=int(time.time()))
    else:
        conf = run_conf(job_id, job_uuid, sandbox_of(job_uuid), job, workflow_id)
        runs.start_run(session, job_id, conf, len(job.tasks), created)


def restart_run(session: Session, row: Any) -> None:
    """Queue the run of a stored job whose run was never created."""
    job = parse_job(row.spec, in_workflow=row.workflow_id is not None)
    queue(session, row.id, row.uuid, job, row.workflow_id, row.create_time)


def run_conf(job_id: int, job_uuid: str, sandbox: Sandbox, job: JobDescription, workflow_id: int | None) -> dict[str, Any]:
    """What the scheduler needs per run (pool slots, priority, retries); the job itself stays in the sandbox."""
    policies = job.policies
    conf: dict[str, Any] = {
        "job_id": job_id,
        "uuid": job_uuid,
        "sandbox": str(sandbox.root),
        "cpus": job.total_cpus,
        "priority": policies.priority or 0 if policies else 0,
        "task_retries": policies.maximum_task_retries or 0 if policies else 0,
        "provisioned": {
            "cpus": job.total_cpus,
            "memory": job.resources.memory_per_node,
            "disk": job.resources.disk,
            "nodes": job.resources.nodes or 1,
        },
        # Without anything to stage these tasks are skipped at run creation (engine/policy.py).
        "stage_in": bool(job.artifacts),
        "stage_out": bool(job.output_files or job.output_dirs),
    }
    if workflow_id is not None:
        conf["workflow_id"] = workflow_id
    return conf


def delete_jobs(session: Session, identity: Identity, job_ids: list[int]) -> int:
    """Kill and mark `deleted` the caller's active jobs among `job_ids`; others are ignored."""
    deleted = []
    for job_id in job_ids:
        row = store.get_job(session, job_id)
        if row is None or row.owner != identity.username or row.status in store.TERMINAL:
            continue
        if store.finish_job(session, job_id, status="deleted", reason=DELETED_BY_USER, end_time=int(time.time())):
            deleted.append(job_id)
    commit_store(session)
    for job_id in deleted:
        runs.stop_run(session, job_id)
    return len(deleted)
