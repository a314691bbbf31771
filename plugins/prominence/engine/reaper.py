"""Housekeeping no Airflow mechanism covers: queue-time limits, and runs lost between commits.

It runs as a daemon thread of the api-server, in short transactions of its own.
"""

from __future__ import annotations

import logging
import threading
import time

from prominence.engine import live, runs
from prominence.store import jobs as store
from prominence.store.db import session_scope

log = logging.getLogger(__name__)
INTERVAL_SECONDS = 5.0
# A job row committed this long ago without a run lost its run (the process died in between).
LOST_RUN_AFTER_SECONDS = 30
MAX_TIME_QUEUED = "Maximum time queued was exceeded"

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
        started = live.start_times(session, [row.id for row in rows])
        for row in rows:
            if row.id in started:
                continue
            limit = (row.spec.get("policies") or {}).get("maximumTimeInQueue") or 0
            if limit > 0 and now - row.create_time > limit * 60:
                if store.finish_job(session, row.id, status="failed", reason=MAX_TIME_QUEUED, end_time=int(now)):
                    runs.stop_run(session, row.id)
                    log.info("Job %s waited longer than %s minutes", row.id, limit)
            elif now - row.create_time > LOST_RUN_AFTER_SECONDS and not runs.run_exists(session, row.id):
                _restart(session, row)


def _restart(session, row) -> None:
    from prominence.engine.submission import restart_run

    log.warning("Job %s has no run; starting it again", row.id)
    restart_run(session, row)
