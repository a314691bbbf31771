"""Creating job runs off the request path, once admission (engine/admission.py) lets a job start.

A create answers once the job's row is committed (so the job is never lost); the job then waits
`idle` without a run until a pass admits it. Passes run in the reconciler's process, at once
when a job is accepted or a run has ended (the hints of store/signals.py; one pass serves every
hint so far) and at least every ADMIT_INTERVAL_SECONDS (a job whose hint was lost still starts).
The api-server creates no run itself: Airflow's run creation took ~30% of its interpreter while
clients were creating jobs, and every request waited its turn behind it. An exclusive lock on a
file of the stack's home serialises the passes of any two processes (say a reconciler and the
one replacing it), so one pass always sees the runs the other created and the pool is never given
out twice.
"""

from __future__ import annotations

import fcntl
import logging
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.orm import Session

from prominence.config import get_settings
from prominence.contract.sandbox import Sandbox
from prominence.contract.states import TERMINAL, JobStatus
from prominence.contract.tasks import job_conf
from prominence.engine import live, runs
from prominence.engine.admission import Plan, UsageBook, Waiting, plan, usage_by_owner
from prominence.engine.resources import ACTIVE_RUN, Grant, grant_of, pool_slots, usage_of
from prominence.model.job import JobDescription, parse_job
from prominence.store import jobs as store
from prominence.store.db import session_scope
from prominence.store.signals import ADMISSION_SOCKET, Wakeup, hint

log = logging.getLogger(__name__)
NO_MATCHING_RESOURCES = "No matching resources"
START_FAILED = "Job could not be started"
MAX_START_ATTEMPTS = 3
ADMIT_INTERVAL_SECONDS = 0.5
LOCK_FILE = "admission.lock"

# How often each job's run could not be created, in this process.
_failures: dict[int, int] = defaultdict(int)
# Each process's passes share one book (they never overlap: see _exclusive).
_book = UsageBook()


def enqueue() -> None:
    """A job was accepted (its row is committed): have the admission loop pass now."""
    hint(ADMISSION_SOCKET)


def run_forever(interval: float = ADMIT_INTERVAL_SECONDS) -> None:
    """The reconciler's admission loop: a pass every `interval`, and at once when hinted."""
    try:
        wakeup = Wakeup(ADMISSION_SOCKET)
    except OSError as exc:
        log.warning("Admission passes only every %s s: no socket for hints (%s)", interval, exc)
        wakeup = None
    while True:
        _pass()
        if wakeup is None:
            time.sleep(interval)
        else:
            wakeup.wait(interval)


def _pass() -> None:
    try:
        admit_waiting()
    except Exception:
        log.exception("Admission pass failed; the next one retries")


@contextmanager
def _exclusive() -> Iterator[None]:
    path = get_settings().home / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        yield


def admit_waiting(now: float | None = None) -> int:
    """One admission pass: start what fits in fair-share order; the number of runs created."""
    now = time.time() if now is None else now
    with _exclusive():
        with session_scope() as session:
            decided, rows = _decide(session, now)
        for job in decided.never:
            with session_scope(write=True) as session:
                store.finish_job(
                    session, job.job_id, status=JobStatus.FAILED.value, reason=NO_MATCHING_RESOURCES, end_time=int(now)
                )
        changed = {job_id: reason for job_id, reason in decided.reasons.items() if rows[job_id].status_reason != reason}
        if changed:
            with session_scope(write=True) as session:
                for job_id, reason in changed.items():
                    store.set_waiting_reason(session, job_id, reason)
        return sum(_start(rows[job.job_id], grant, now) for job, grant in decided.start)


def _decide(session: Session, now: float) -> tuple[Plan, dict[int, Any]]:
    rows = {row.id: row for row in store.active_jobs(session)}
    if not rows:
        return Plan(), rows  # an empty queue costs no read of Airflow's tables
    found = runs.run_confs(session, list(rows))
    active = {job_id: job_conf(conf) for job_id, (state, conf) in found.items() if state in ACTIVE_RUN}
    started = live.start_times(session, list(active))
    held: dict[str, int] = defaultdict(int)
    running = []
    for job_id, conf in active.items():
        cpus = grant_of(conf).cpus
        held[rows[job_id].owner] += cpus
        if job_id in started:
            running.append((rows[job_id].owner, cpus, started[job_id]))
    pool = usage_of((grant_of(conf) for conf in active.values()), pool_slots(session))
    ended = _book.add(store.ended_since(session, _book.since(now)), now)
    usage = usage_by_owner(ended, running, now)
    waiting = [Waiting(row.id, row.owner, row.create_time, row.spec) for row in rows.values() if row.id not in found]
    return plan(waiting, pool, usage, held), rows


def _start(row: Any, grant: Grant, now: float) -> bool:
    """Create the admitted job's run; a job whose run keeps failing to be created ends `failed`."""
    try:
        job = parse_job(row.spec, in_workflow=row.workflow_id is not None)
        with session_scope() as session:
            conf = run_conf(row.id, row.uuid, Sandbox.of(row.uuid), job, row.workflow_id, grant)
            runs.start_run(session, row.id, conf, len(job.tasks), row.create_time, row.owner, job.name)
    except Exception:
        log.exception("Job %s: creating its run failed", row.id)
        _failures[row.id] += 1
        if _failures[row.id] >= MAX_START_ATTEMPTS:
            with session_scope(write=True) as session:
                store.finish_job(session, row.id, status=JobStatus.FAILED.value, reason=START_FAILED, end_time=int(now))
            log.error("Job %s could not be started %s times: failed", row.id, _failures.pop(row.id))
        return False
    _failures.pop(row.id, None)
    with session_scope() as session:
        # Deleted while its run was being created: that run must not start.
        if store.get_job(session, row.id).status in TERMINAL:
            runs.stop_run(session, row.id)
            return True
    if row.status_reason is not None:
        with session_scope(write=True) as session:
            store.set_waiting_reason(session, row.id, None)
    return True


def run_conf(
    job_id: int, job_uuid: str, sandbox: Sandbox, job: JobDescription, workflow_id: int | None, grant: Grant
) -> dict[str, Any]:
    """What the scheduler needs per run (pool slots, priority, retries) and what the job was
    given; the job itself stays in the sandbox."""
    policies = job.policies
    conf: dict[str, Any] = {
        "job_id": job_id,
        "uuid": job_uuid,
        "sandbox": str(sandbox.root),
        "cpus": grant.cpus,
        "priority": policies.priority or 0 if policies else 0,
        "task_retries": policies.maximum_task_retries or 0 if policies else 0,
        # Job retries (scheduler/retry.py): how many, and whether task failures count as success.
        "max_retries": policies.maximum_retries or 0 if policies else 0,
        "task_failures_ok": bool(policies and policies.report_job_success_on_task_failure),
        "provisioned": grant.provisioned(job.resources.nodes or 1),
        # Without anything to stage these tasks are skipped at run creation (scheduler/policy.py).
        "stage_in": bool(job.artifacts),
        "stage_out": bool(job.output_files or job.output_dirs),
        # Only for the UI's label of each mapped container task (the DAG's map_index_template).
        "images": [task.image for task in job.tasks],
    }
    if workflow_id is not None:
        conf["workflow_id"] = workflow_id
    return conf
