"""Housekeeping no Airflow mechanism covers: queue-time limits, runs lost between commits, and
outcomes whose write-back was lost.

It runs as a daemon thread of the api-server, in short transactions of its own.
"""

from __future__ import annotations

import logging
import threading
import time

from prominence.contract.states import JobStatus
from prominence.contract.tasks import job_conf
from prominence.engine import live, runs
from prominence.engine.dispatch import restart_run
from prominence.scheduler.outcome import outcome_of
from prominence.store import jobs as store
from prominence.store.db import commit_store, session_scope

log = logging.getLogger(__name__)
INTERVAL_SECONDS = 5.0
# A job row committed this long ago without a run lost its run (the process died in between).
LOST_RUN_AFTER_SECONDS = 30
MAX_TIME_QUEUED = "Maximum time queued was exceeded"
ENDED = ("success", "failed")

_started = threading.Event()


def start_once() -> None:
    """Start the reaper thread the first time it is asked for in this process."""
    if not _started.is_set():
        _started.set()
        threading.Thread(target=_loop, name="prominence-reaper", daemon=True).start()


def _loop() -> None:
    while True:
        time.sleep(INTERVAL_SECONDS)
        try:
            reap(time.time())
        except Exception:
            log.exception("Reaper pass failed; trying again in %s s", INTERVAL_SECONDS)


def reap(now: float) -> None:
    with session_scope() as session:
        rows = store.active_jobs(session)
        ids = [row.id for row in rows]
        started = live.start_times(session, ids)
        states = runs.run_states(session, ids)
        expired, lost = [], []
        for row in rows:
            if row.id in started:
                continue
            limit = (row.spec.get("policies") or {}).get("maximumTimeInQueue") or 0
            if limit > 0 and now - row.create_time > limit * 60:
                if store.finish_job(session, row.id, status=JobStatus.FAILED.value, reason=MAX_TIME_QUEUED, end_time=int(now)):
                    expired.append(row.id)
                    log.info("Job %s waited longer than %s minutes", row.id, limit)
            elif now - row.create_time > LOST_RUN_AFTER_SECONDS and row.id not in states:
                lost.append(row)
        commit_store(session)
        for job_id in expired:
            runs.stop_run(session, job_id)
        for row in lost:
            _restart(session, row)
        ended = [job_id for job_id, state in states.items() if state in ENDED and job_id not in expired]
        _record_missed_outcomes(session, ended)


def _restart(session, row) -> None:
    log.warning("Job %s has no run; starting it again", row.id)
    restart_run(session, row)


def _record_missed_outcomes(session, job_ids: list[int]) -> None:
    """Store the outcome of jobs whose run ended without the listener's write-back landing (with our
    tables in a database of their own, that write is not part of the scheduler's transaction)."""
    if not job_ids:
        return
    # Most were written back since they were read: re-read before writing anything.
    active = {row.id for row in store.active_jobs(session)}
    for run in runs.runs_of(session, [job_id for job_id in job_ids if job_id in active]):
        job_id = job_conf(run.conf)["job_id"]
        if store.finish_job(session, job_id, **outcome_of(session, run)):
            log.warning("Job %s ended without its outcome stored; stored it now", job_id)
