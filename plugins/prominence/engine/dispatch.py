"""Creating job runs off the request path.

Creating an Airflow run costs tens of milliseconds of database writes that contend with the
scheduler; a create therefore answers once the job's row is committed (so the job is never lost)
and a daemon thread of the api-server creates the run right after. If the process dies first,
the reconciler starts the run of any job left without one (`restart_run`).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from prominence.config import get_settings
from prominence.contract.sandbox import Sandbox
from prominence.contract.states import TERMINAL, JobStatus
from prominence.engine import runs
from prominence.model.job import JobDescription, parse_job
from prominence.store import jobs as store
from prominence.store.db import session_scope

log = logging.getLogger(__name__)
NO_MATCHING_RESOURCES = "No matching resources"


@dataclass(frozen=True)
class Pending:
    job_id: int
    job_uuid: str
    job: JobDescription
    workflow_id: int | None
    created: int


_pending: queue.SimpleQueue[Pending] = queue.SimpleQueue()
_lock = threading.Lock()
_thread: threading.Thread | None = None


def enqueue(pending: Pending) -> None:
    _start_once()
    _pending.put(pending)


def _start_once() -> None:
    global _thread
    with _lock:
        if _thread is None:
            _thread = threading.Thread(target=_loop, name="prominence-dispatch", daemon=True)
            _thread.start()


def _loop() -> None:
    while True:
        pending = _pending.get()
        try:
            dispatch(pending)
        except Exception:
            log.exception("Could not start the run of job %s; the reconciler will", pending.job_id)


def dispatch(pending: Pending) -> None:
    """Create the run of a job that is still waiting for one (a deleted job gets none)."""
    with session_scope() as session:
        row = store.get_job(session, pending.job_id)
        if row is None or row.status in TERMINAL:
            return
        start(session, pending.job_id, pending.job_uuid, pending.job, pending.workflow_id, pending.created, row.owner)
    with session_scope() as session:
        # Deleted while its run was being created: that run must not start.
        if store.get_job(session, pending.job_id).status in TERMINAL:
            runs.stop_run(session, pending.job_id)


def start(
    session: Session, job_id: int, job_uuid: str, job: JobDescription, workflow_id: int | None, created: int, owner: str
) -> None:
    """Create the job's run, or end the job `failed` when no worker could ever hold it."""
    if job.total_cpus > get_settings().worker_cpus:
        store.finish_job(session, job_id, status=JobStatus.FAILED.value, reason=NO_MATCHING_RESOURCES, end_time=int(time.time()))
    else:
        conf = run_conf(job_id, job_uuid, Sandbox.of(job_uuid), job, workflow_id)
        runs.start_run(session, job_id, conf, len(job.tasks), created, owner, job.name)


def restart_run(session: Session, row: Any) -> None:
    """Queue the run of a stored job whose run was never created."""
    job = parse_job(row.spec, in_workflow=row.workflow_id is not None)
    start(session, row.id, row.uuid, job, row.workflow_id, row.create_time, row.owner)


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
        # Job retries (scheduler/retry.py): how many, and whether task failures count as success.
        "max_retries": policies.maximum_retries or 0 if policies else 0,
        "task_failures_ok": bool(policies and policies.report_job_success_on_task_failure),
        "provisioned": {
            "cpus": job.total_cpus,
            "memory": job.resources.memory_per_node,
            "disk": job.resources.disk,
            "nodes": job.resources.nodes or 1,
        },
        # Without anything to stage these tasks are skipped at run creation (scheduler/policy.py).
        "stage_in": bool(job.artifacts),
        "stage_out": bool(job.output_files or job.output_dirs),
        # Only for the UI's label of each mapped container task (the DAG's map_index_template).
        "images": [task.image for task in job.tasks],
    }
    if workflow_id is not None:
        conf["workflow_id"] = workflow_id
    return conf
