"""The scheduler's rest while no DAG run is queued or running.

Airflow's scheduler loop sleeps `scheduler_idle_sleep_time` (0.1 s here, for latency) after each
loop that found nothing to do, and each loop costs a dozen queries: an idle stack spent 12-14% of
a core there. While no run is queued or running there is nothing for it to notice but a new run,
so it rests up to REST_SECONDS instead, woken at once by the commit of any run created elsewhere
(engine/runs.py: admission's in the reconciler, Airflow's API and UI in the api-server). The runs
it creates itself (a DAG's schedule or assets, a workflow's `@once` run) wait at most
REST_SECONDS. The scheduler still heartbeats at least every REST_SECONDS plus one loop, far inside
its health check threshold. Runs seen active are not looked for again for ACTIVE_RECHECK_SECONDS:
while jobs run, most loops find nothing to do, and each would otherwise cost one more query.

That loop's only use of its module's `time` is this sleep, so the rest stands in for that module
there (scheduler_job_runner.time), installed when the scheduler's job starts.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable

from sqlalchemy import select

from prominence.store.signals import SCHEDULER_SOCKET, Wakeup

log = logging.getLogger(__name__)
REST_SECONDS = 2.0
ACTIVE_RECHECK_SECONDS = 1.0
SCHEDULER_MODULE = "airflow.jobs.scheduler_job_runner"


class IdleRest:
    """Stands in for `time` in Airflow's scheduler module: its `sleep` rests while `runs_active`
    says nothing is queued or running, and sleeps as asked otherwise."""

    def __init__(self, idle_sleep: float, runs_active: Callable[[], bool]) -> None:
        self.idle_sleep = idle_sleep
        self.runs_active = runs_active
        self.wakeup: Wakeup | None = None
        self.unavailable = False
        self.active_until = 0.0

    def sleep(self, seconds: float) -> None:
        # A shorter sleep than the idle one means one of the scheduler's timers is due sooner.
        wakeup = self._wakeup() if seconds >= self.idle_sleep else None
        if wakeup is None or self._active():
            time.sleep(seconds)
        else:
            wakeup.wait(REST_SECONDS)

    def _active(self) -> bool:
        if time.monotonic() < self.active_until:
            return True
        if self.runs_active():
            self.active_until = time.monotonic() + ACTIVE_RECHECK_SECONDS
            return True
        return False

    def _wakeup(self) -> Wakeup | None:
        """Bound before the first look at the runs, so a run created after that look wakes the rest."""
        if self.wakeup is None and not self.unavailable:
            try:
                self.wakeup = Wakeup(SCHEDULER_SOCKET)
            except OSError as exc:
                log.warning("The scheduler sleeps as configured: no socket for new runs (%s)", exc)
                self.unavailable = True
        return self.wakeup

    def __getattr__(self, name: str):
        return getattr(time, name)


def runs_active() -> bool:
    """Whether any DAG run is queued or running: one indexed query."""
    # Airflow's ORM loads only in the scheduler: this module is imported with the plugin everywhere.
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState

    with create_session() as session:
        query = select(DagRun.id).where(DagRun.state.in_((DagRunState.QUEUED, DagRunState.RUNNING))).limit(1)
        return session.scalar(query) is not None


def install() -> None:
    """Rest the scheduler loop of this process, if it has one (its module is loaded before its
    job starts); elsewhere nothing changes."""
    runner = sys.modules.get(SCHEDULER_MODULE)
    if runner is None or isinstance(runner.time, IdleRest):
        return
    # Airflow's configuration loads only in the scheduler: this module is imported with the plugin everywhere.
    from airflow.configuration import conf

    runner.time = IdleRest(conf.getfloat("scheduler", "scheduler_idle_sleep_time"), runs_active)
