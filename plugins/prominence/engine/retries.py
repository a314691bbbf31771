"""Re-running a job whose attempt failed (job retries, scheduler/retry.py), from the reconciler.

The listener leaves such a job active with its failed attempt recorded; the reconciler's next
pass (at most INTERVAL_SECONDS later) finds its run ended and calls `settle_ended`, which
records the attempt again if the listener's write did not land, resets the sandbox to what it
was at submission and clears the run, so that it starts again from its first task.
"""

from __future__ import annotations

import logging

from prominence.contract.sandbox import Sandbox
from prominence.contract.states import TERMINAL
from prominence.engine import runs
from prominence.scheduler.retry import settle
from prominence.store import jobs as store
from prominence.store.db import commit_store, session_scope

log = logging.getLogger(__name__)


def settle_ended(job_id: int) -> None:
    """Store the outcome of the job's ended run, or run it again when it is to be retried."""
    with session_scope() as session:
        row = store.get_job(session, job_id)
        found = runs.runs_of(session, [job_id]) if row is not None and row.status not in TERMINAL else []
        if not found:
            return
        retry = settle(session, session, found[0])
        # Our row first, then Airflow's (the lock order, store/db.py).
        commit_store(session)
        if not retry:
            log.warning("Job %s ended without its outcome stored; stored it now", job_id)
            return
        if found[0].state not in ("success", "failed"):
            return
        Sandbox.of(row.uuid).reset(row.spec.get("inputs") or [])
        runs.rerun(session, job_id)
        log.info("Job %s failed an attempt; running it again", job_id)
    with session_scope() as session:
        # Deleted while its run was being cleared: that run must not start again.
        if store.get_job(session, job_id).status in TERMINAL:
            runs.stop_run(session, job_id)
