"""Accepting, deleting and cloning jobs: our row first (never lose a job), then its Airflow run."""

from __future__ import annotations

import logging
import shutil
import time
import uuid
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from prominence.auth.identity import Identity
from prominence.auth.tokens import mint_token
from prominence.config import get_settings
from prominence.contract.sandbox import Sandbox
from prominence.contract.states import TERMINAL, JobStatus
from prominence.engine import dispatch, notify, runs, staging
from prominence.engine.resources import min_cpus
from prominence.model.errors import QUOTA_CPUS_RUNNING, QUOTA_JOBS_QUEUED, SpecError
from prominence.model.job import JobDescription
from prominence.store import jobs as store
from prominence.store import workflows as workflow_store
from prominence.store.db import commit_store, session_scope

log = logging.getLogger(__name__)
DELETED_BY_USER = "Job deleted by user"
# Job tokens outlive the job's walltime by this margin (spec §2 uses 10 days).
TOKEN_MARGIN_SECONDS = 10 * 24 * 3600


def submit_job(
    identity: Identity, job: JobDescription, workflow_id: int | None = None, member: dict[str, Any] | None = None
) -> int | None:
    """Store the job, committed, then have its run created; a job that cannot run ends `failed`.

    `member`: row values of a workflow's job (its composite name, name in the workflow, instance,
    try); None instead of an id when that member is not stored (see `_insert`)."""
    stored = job.to_stored()
    if workflow_id is None:
        _check_quotas(identity, stored)
    # Raises SpecError (a 400) before anything is stored when an artifact names no object.
    plan = staging.plan(identity, stored)
    job_uuid = str(uuid.uuid4())
    lifetime = TOKEN_MARGIN_SECONDS + 2 * job.walltime_seconds
    token = mint_token(identity.username, identity.groups, lifetime=lifetime, job=job_uuid, email=identity.email)
    sandbox = Sandbox.of(job_uuid)
    sandbox.create(stored, token)
    staging.prepare(sandbox, stored, plan)
    now = int(time.time())
    job_id = _insert(identity, stored, job_uuid, now, workflow_id, member or {})
    if job_id is None:
        shutil.rmtree(sandbox.root, ignore_errors=True)
        return None
    dispatch.enqueue()
    return job_id


def _check_quotas(identity: Identity, stored: dict[str, Any]) -> None:
    """SpecError (a 400) when the job would exceed its user's queued-jobs or running-cpus quota;
    a workflow's jobs are not refused one by one (they wait in the workflow instead)."""
    settings = get_settings()
    if settings.quota_jobs_queued > 0:
        with session_scope() as session:
            queued = store.queued_count(session, identity.username)
        if queued >= settings.quota_jobs_queued:
            raise SpecError(QUOTA_JOBS_QUEUED.format(quota=settings.quota_jobs_queued))
    cpus = min_cpus(stored.get("resources") or {})
    if 0 < settings.quota_cpus_running < cpus:
        raise SpecError(QUOTA_CPUS_RUNNING.format(cpus=cpus, quota=settings.quota_cpus_running))


def fail_member(identity: Identity, job: JobDescription, workflow_id: int, member: dict[str, Any], reason: str) -> int | None:
    """Store a workflow's job that cannot be submitted (an artifact deleted since the workflow
    was accepted) as `failed` with the reason, without a sandbox or run: its node then ends
    like one whose job failed, and the workflow with it."""
    now = int(time.time())
    ended = {"status": JobStatus.FAILED.value, "status_reason": reason, "end_time": now, "in_queue": False}
    return _insert(identity, job.to_stored(), str(uuid.uuid4()), now, workflow_id, member | ended)


def _insert(
    identity: Identity, stored: dict[str, Any], job_uuid: str, now: int, workflow_id: int | None, values: dict[str, Any]
) -> int | None:
    """Commit the job's row; `values` add to or replace the defaults of an idle job.

    A workflow's job is stored only while its workflow is active and only once per instance and
    try of its node (store.workflows.insert_member): None when it was not, so a delete racing a
    release, or two racing releases, leave no job behind."""
    try:
        return _insert_row(identity, stored, job_uuid, now, workflow_id, values)
    except IntegrityError:
        if workflow_id is None:
            raise
        log.info("Workflow %s: %s was released already in this try", workflow_id, values.get("name"))
        return None


def _insert_row(
    identity: Identity, stored: dict[str, Any], job_uuid: str, now: int, workflow_id: int | None, values: dict[str, Any]
) -> int | None:
    with session_scope(write=True) as session:
        job_id = store.next_id(session, "job")
        row = {
            "id": job_id,
            "uuid": job_uuid,
            "owner": identity.username,
            "groups": identity.groups,
            "name": stored.get("name", ""),
            "status": JobStatus.IDLE.value,
            "spec": stored,
            "labels": stored.get("labels"),
            "create_time": now,
            "in_queue": True,
            "leave_in_queue": bool(stored.get("policies", {}).get("leaveInQueue")) and workflow_id is None,
            "workflow_id": workflow_id,
            "email": identity.email,
            "notify": notify.owed(identity, stored.get("notifications")),
        }
        if workflow_id is None:
            store.insert_job(session, **(row | values))
        elif not workflow_store.insert_member(session, **(row | values)):
            session.rollback()
            return None
    return job_id


def delete_jobs(session: Session, identity: Identity, job_ids: list[int]) -> int:
    """Kill and mark `deleted` the caller's active jobs among `job_ids`; others are ignored."""
    deleted = []
    for job_id in job_ids:
        row = store.get_job(session, job_id)
        if row is None or row.owner != identity.username or row.status in TERMINAL:
            continue
        if store.finish_job(session, job_id, status=JobStatus.DELETED.value, reason=DELETED_BY_USER, end_time=int(time.time())):
            deleted.append(job_id)
    commit_store(session)
    runs.stop_runs(session, deleted)
    return len(deleted)
