"""Reconciliation no Airflow mechanism covers, run continuously by the stack's `reconciler`
component (`python -m prominence.engine.reconciler`, supervised like Airflow's own processes):
queue-time limits, admission of waiting jobs (engine/dispatch.py, in a thread of its own),
workflows accepted without their DAG file (likewise), runs that ended without their outcome
stored (jobs and workflows: the listener's write-back was lost), jobs to be run again after a
failed attempt (job retries, engine/retries.py), runs of deleted jobs that were never stopped,
runs of ended workflows that can never end by themselves, and the email notifications of jobs
and workflows that ended (engine/notify.py says why they are sent here).

A process of its own, so it runs from the stack's start on, whether or not a request ever
arrives, and keeps running while the api-server restarts. Every job is handled in its own
transaction and its own try/except: one that keeps failing is retried a bounded number of times,
then recorded `failed` with a reason, and never holds up the others.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy.orm import configure_mappers

from prominence.contract.states import JobStatus
from prominence.contract.workflows import dag_file, dag_id_for, workflow_id_of
from prominence.engine import dispatch, live, notify, runs
from prominence.engine.retention import sweep_sandboxes
from prominence.engine.retries import settle_ended
from prominence.engine.workflow_files import graph_of, write_dag_file
from prominence.engine.workflows import description_of, stop_dag_run
from prominence.scheduler.listener import finish_workflow
from prominence.store import jobs as store
from prominence.store import workflows as workflow_store
from prominence.store.db import session_scope

log = logging.getLogger(__name__)
INTERVAL_SECONDS = 5.0
# A workflow committed this long ago without its DAG file lost it (the process died in between).
LOST_RUN_AFTER_SECONDS = 30
# Runs of jobs deleted within this window are stopped again if they are still active.
DELETED_WINDOW_SECONDS = 3600
MAX_TIME_QUEUED = "Maximum time queued was exceeded"
# A deleted workflow's run is stopped by the delete itself within this long, if it can be.
ENDED_WORKFLOW_RUN_GRACE_SECONDS = 60
ENDED = ("success", "failed")
ACTIVE_RUN = ("queued", "running")
# Sandboxes past their retention (PROMINENCE_SANDBOX_RETENTION_HOURS) are looked for this often.
SWEEP_INTERVAL_SECONDS = 600


class Reconciler:
    """One pass at a time; remembers when sandboxes were last swept."""

    def __init__(self) -> None:
        self.last_sweep = 0.0
        self.notifier = notify.Notifier()

    def run_forever(self) -> None:
        while True:
            try:
                self.reconcile(time.time())
            except Exception:
                log.exception("Reconciler pass failed; trying again in %s s", INTERVAL_SECONDS)
            time.sleep(INTERVAL_SECONDS)

    def reconcile(self, now: float) -> None:
        with session_scope() as session:
            rows = store.active_jobs(session)
            ids = [row.id for row in rows]
            started = live.start_times(session, ids)
            states = runs.run_states(session, ids)
        expired = []
        for row in rows:
            limit = (row.spec.get("policies") or {}).get("maximumTimeInQueue") or 0
            if row.id not in started and limit > 0 and now - row.create_time > limit * 60:
                expired.append(row.id)
        for job_id in expired:
            _each(job_id, "ending after its queue time", lambda job_id=job_id: _expire(job_id, now))
        ended = [job_id for job_id, state in states.items() if state in ENDED and job_id not in expired]
        for job_id in ended:
            _each(job_id, "storing its outcome", lambda job_id=job_id: settle_ended(job_id))
        _stop_deleted(now)
        _record_missed_workflow_outcomes()
        _stop_runs_of_ended_workflows(now)
        _write_lost_dag_files(now)
        try:
            self.notifier.send_owed()
        except Exception:
            log.exception("Sending notifications failed; trying again next pass")
        if now - self.last_sweep >= SWEEP_INTERVAL_SECONDS:
            self.last_sweep = now
            for path in sweep_sandboxes(now):
                log.info("Removed sandbox %s after its retention", path.name)


def _each(job_id: int, what: str, work: Callable[[], None]) -> None:
    try:
        work()
    except Exception:
        log.exception("Job %s: %s failed; trying again next pass", job_id, what)


def _expire(job_id: int, now: float) -> None:
    with session_scope() as session:
        if not store.finish_job(session, job_id, status=JobStatus.FAILED.value, reason=MAX_TIME_QUEUED, end_time=int(now)):
            return
        log.info("Job %s waited longer than its maximum time in the queue", job_id)
    # Our row is committed before Airflow's are written (the lock order, store/db.py).
    with session_scope() as session:
        runs.stop_run(session, job_id)


def _stop_deleted(now: float) -> None:
    """Stop the runs of recently deleted jobs still active (the process died before stopping them)."""
    with session_scope() as session:
        deleted = store.deleted_since(session, int(now) - DELETED_WINDOW_SECONDS)
        active = [job_id for job_id, state in runs.run_states(session, deleted).items() if state in ACTIVE_RUN]
    for job_id in active:
        log.warning("Job %s was deleted but its run is still active; stopping it", job_id)
        _each(job_id, "stopping its run", lambda job_id=job_id: _stop(job_id))


def _stop(job_id: int) -> None:
    with session_scope() as session:
        runs.stop_run(session, job_id)


def _record_missed_workflow_outcomes() -> None:
    """Store the outcome of workflows whose DAG run ended without the listener's write-back."""
    with session_scope() as session:
        active = [row.id for row in workflow_store.active_workflows(session)]
        ended = runs.ended_dag_runs(session, [dag_id_for(workflow_id) for workflow_id in active])
    for dag_id, state in ended.items():
        workflow_id = workflow_id_of(dag_id)
        try:
            with session_scope() as session:
                finish_workflow(session, workflow_id, succeeded=state == "success")
            log.warning("Workflow %s ended without its outcome stored; stored it now", workflow_id)
        except Exception:
            log.exception("Workflow %s: storing its outcome failed; trying again next pass", workflow_id)


def _stop_runs_of_ended_workflows(now: float) -> None:
    """Fail the active runs of workflows that ended more than the grace ago and whose DAG file is
    gone: the scheduler never moves such a run again, so it stayed `running` for good. A delete
    leaves one when it finds no run to stop while the scheduler is about to create it from the
    DAG file the delete then removes."""
    with session_scope() as session:
        running = [workflow_id_of(dag_id) for dag_id in runs.active_workflow_dag_ids(session)]
        rows = workflow_store.ended_among(session, [workflow_id for workflow_id in running if workflow_id is not None])
    ended = [
        (row.id, row.status)
        for row in rows
        if now - (row.end_time or 0) > ENDED_WORKFLOW_RUN_GRACE_SECONDS and not dag_file(row.id).exists()
    ]
    for workflow_id, status in ended:
        try:
            with session_scope() as session:
                stop_dag_run(session, workflow_id)
            log.warning("Workflow %s is %s but its run was still active; failed it", workflow_id, status)
        except Exception:
            log.exception("Workflow %s: failing its run failed; trying again next pass", workflow_id)


def _write_lost_dag_files(now: float) -> None:
    """Write the DAG file of an active workflow accepted long ago that has neither file nor run."""
    with session_scope() as session:
        rows = [row for row in workflow_store.active_workflows(session) if now - row.create_time > LOST_RUN_AFTER_SECONDS]
        started = runs.dag_runs_of(session, [dag_id_for(row.id) for row in rows])
    for row in rows:
        if dag_id_for(row.id) in started or dag_file(row.id).exists():
            continue
        try:
            write_dag_file(graph_of(row.id, row.owner, row.name, row.create_time, description_of(row)))
            log.warning("Workflow %s had no DAG file; wrote it now", row.id)
        except Exception:
            log.exception("Workflow %s: writing its DAG file failed; trying again next pass", row.id)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log.info("Reconciler started: a pass every %s s, admission every %s s", INTERVAL_SECONDS, dispatch.ADMIT_INTERVAL_SECONDS)
    _load_models()
    runs.wake_scheduler_on_new_runs()
    threading.Thread(target=dispatch.run_forever, name="prominence-admission", daemon=True).start()
    Reconciler().run_forever()


def _load_models() -> None:
    """Import Airflow's models and configure their mappers once, before a second thread queries:
    two threads doing it at once deadlocked on an import lock against SQLAlchemy's mapper lock
    (seen after a restart of this process; admission then never ran again)."""
    # Airflow's ORM loads only where used: this module is imported by processes that never query.
    from airflow.models import import_all_models

    import_all_models()
    configure_mappers()


if __name__ == "__main__":
    main()
