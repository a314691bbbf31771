"""Scheduler-side write-back: a job's or workflow's terminal state is stored once, when its run ends.

These hooks run inside the scheduler's transaction, which holds Airflow's rows of the run already
(so the lock order is Airflow's tables, then ours: store/db.py). When our tables share Airflow's
database they write through that same session (a second connection to the same SQLite file
deadlocks under load), inside a SAVEPOINT; when they have their own (SQLite), they write there in
a short session. They never raise into the scheduler: a failure is logged and rolled back to the
savepoint, and the reconciler (engine/reconciler.py) stores the outcome on its next pass.
When the scheduler's job starts, it is given its rest for while nothing runs (scheduler/idle.py)
and its executor's workers a watch for its end (scheduler/workers.py).
"""

from __future__ import annotations

import logging
import time

from airflow.listeners import hookimpl
from sqlalchemy.orm import object_session

from prominence.config import get_settings
from prominence.contract.states import JobStatus
from prominence.contract.tasks import job_conf
from prominence.contract.workflows import dag_file, workflow_id_of
from prominence.scheduler import idle, workers
from prominence.scheduler.retry import settle
from prominence.store import workflows as workflow_store
from prominence.store.db import store_writes
from prominence.store.signals import run_ended_on_commit

log = logging.getLogger(__name__)


@hookimpl
def on_starting(component) -> None:
    """A job of this process starts: if it is the scheduler's, it rests while nothing runs and
    its idle workers leave with it."""
    idle.install()
    workers.install()


@hookimpl
def on_dag_run_success(dag_run, msg: str) -> None:
    record_outcome(dag_run)
    record_workflow_outcome(dag_run, succeeded=True)


@hookimpl
def on_dag_run_failed(dag_run, msg: str) -> None:
    record_outcome(dag_run)
    record_workflow_outcome(dag_run, succeeded=False)


def record_workflow_outcome(dag_run, *, succeeded: bool) -> None:
    """A workflow's run ended: its nodes are all done, so the workflow is completed or failed."""
    workflow_id = workflow_id_of(dag_run.dag_id)
    session = object_session(dag_run)
    if workflow_id is None or session is None:
        return
    try:
        with store_writes(session) as writes:
            finish_workflow(writes, workflow_id, succeeded)
    except Exception:
        log.exception("Workflow %s: storing its outcome failed; the reconciler will", workflow_id)


def finish_workflow(session, workflow_id: int, succeeded: bool) -> None:
    """The workflow's DAG run ended: record the outcome once (its last job may have recorded it
    already, engine/workflow_events.py); the DAG file goes unless the workflow stays in the queue."""
    status = JobStatus.COMPLETED if succeeded else JobStatus.FAILED
    workflow_store.finish_workflow(session, workflow_id, status=str(status), reason=None, end_time=int(time.time()))
    row = workflow_store.get_workflow(session, workflow_id)
    if row is not None and not row.leave_in_queue:
        dag_file(workflow_id).unlink(missing_ok=True)


def record_outcome(dag_run) -> None:
    conf = job_conf(dag_run.conf)
    if dag_run.dag_id != get_settings().job_dag_id or "job_id" not in conf:
        return
    session = object_session(dag_run)
    if session is None:
        log.error("Run %s has no session; its job keeps its state", dag_run.run_id)
        return
    run_ended_on_commit(session)
    try:
        with store_writes(session) as writes:
            # A job to be retried stays active: the reconciler re-runs it (engine/retries.py).
            settle(writes, session, dag_run)
    except Exception:
        log.exception("Job %s: storing its outcome failed; the reconciler will", conf["job_id"])
