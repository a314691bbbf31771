"""Airflow's LocalExecutor, less its idle workers once nothing has run for a while.

LocalExecutor forks `parallelism` workers at its start and again whenever work finds fewer (all
at once, to keep its gc freezes few), and never lets one go: after a burst each held 20-37 MiB
of PSS for as long as the stack stayed up, about a fifth of an idle stack. Once the
executor has had nothing queued or running for `PROMINENCE_IDLE_WORKER_SECONDS`, every worker
is sent Airflow's own shutdown message (one `None` on the work queue each, which only an idle
worker reads) and, once they are gone, KEEP_WORKERS fresh ones are forked: a worker that has run
tasks held 45-47 MiB of its own, a fresh one 23 MiB. The next workload that finds the queue
waiting forks the rest back. It builds on LocalExecutor's private parts (`_check_workers`,
`_unread_messages`, `_spawn_workers_with_gc_freeze`), so an Airflow upgrade must keep to them
(tests/scheduler/test_executor.py would fail).
"""

from __future__ import annotations

import time

from airflow.executors.local_executor import LocalExecutor as AirflowLocalExecutor

from prominence.config import get_settings

KEEP_WORKERS = 1


class LocalExecutor(AirflowLocalExecutor):
    def start(self) -> None:
        super().start()
        self._idle_since: float | None = None
        self._trimmed = False
        self._idle_seconds = get_settings().idle_worker_seconds

    def _check_workers(self) -> None:
        super()._check_workers()
        self._trim_idle_workers()

    def _trim_idle_workers(self) -> None:
        with self._unread_messages:
            outstanding = self._unread_messages.value
        if outstanding > 0 or self.running or self.queued_tasks:
            self._idle_since = None
            self._trimmed = False
            return
        now = time.monotonic()
        if self._idle_since is None:
            self._idle_since = now
        if self._trimmed:
            if not self.workers:
                self._spawn_workers_with_gc_freeze(KEEP_WORKERS)
            return
        if now - self._idle_since >= self._idle_seconds:
            for _ in self.workers:
                self.activity_queue.put(None)
            self._trimmed = True
