"""Creating job runs off the request path.

Creating an Airflow run costs tens of milliseconds of database writes that contend with the
scheduler; a create therefore answers once the job's row is committed (so the job is never lost)
and a daemon thread of the api-server creates the run right after. If the process dies first,
the reaper starts the run of any job left without one.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass

from prominence.engine import runs
from prominence.model.job import JobDescription
from prominence.store import jobs as store
from prominence.store.db import session_scope

log = logging.getLogger(__name__)


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
            log.exception("Could not start the run of job %s; the reaper will", pending.job_id)


def dispatch(pending: Pending) -> None:
    """Create the run of a job that is still waiting for one (a deleted job gets none)."""
    from prominence.engine.submission import queue as queue_run

    with session_scope() as session:
        row = store.get_job(session, pending.job_id)
        if row is None or row.status in store.TERMINAL:
            return
        queue_run(session, pending.job_id, pending.job_uuid, pending.job, pending.workflow_id, pending.created)
    with session_scope() as session:
        # Deleted while its run was being created: that run must not start.
        if store.get_job(session, pending.job_id).status in store.TERMINAL:
            runs.stop_run(session, pending.job_id)
