"""The LocalExecutor lets its idle workers go, with real worker processes forked by the test (that
work forks them back is shown on a real stack: tests/integration/test_idle_workers.py)."""

from __future__ import annotations

import time

import pytest

from prominence.config import get_settings
from prominence.scheduler.executor import KEEP_WORKERS, LocalExecutor


@pytest.fixture
def executor(monkeypatch):
    def start(idle_seconds: float) -> LocalExecutor:
        monkeypatch.setenv("PROMINENCE_IDLE_WORKER_SECONDS", str(idle_seconds))
        get_settings.cache_clear()
        started = LocalExecutor(parallelism=3)
        started.start()
        made.append(started)
        return started

    made: list[LocalExecutor] = []
    yield start
    for started in made:
        started.end()
    get_settings.cache_clear()


def synced_for(executor: LocalExecutor, seconds: float) -> int:
    """The executor's workers after it synced every 50 ms for `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        executor.sync()
        time.sleep(0.05)
    return len(executor.workers)


def test_idle_workers_are_replaced_by_one_fresh_worker(executor):
    started = executor(idle_seconds=0.5)
    first = set(started.workers)
    assert len(first) == 3
    assert synced_for(started, 0.3) == 3
    assert synced_for(started, 2) == KEEP_WORKERS
    assert all(worker.is_alive() for worker in started.workers.values())
    # Fresh forks, not workers that ran tasks, which hold much more memory of their own.
    assert not first & set(started.workers)


def test_workers_stay_while_a_task_runs(executor):
    started = executor(idle_seconds=0.2)
    started.running.add("a task")
    assert synced_for(started, 1) == 3
    started.running.clear()
    assert synced_for(started, 1.5) == KEEP_WORKERS
