"""An idle scheduler keeps one LocalExecutor worker (scheduler/executor.py), and jobs submitted
after that run as before, the rest of the workers forked back for them."""

from __future__ import annotations

import os
import time

import pytest

from prominence.contract.states import TERMINAL
from tests.integration.api import job
from tests.integration.faults.test_fault_kills import executor_workers

pytestmark = pytest.mark.skipif(os.environ.get("PROMINENCE_EXECUTOR") == "celery", reason="the local executor's workers")


def workers_settle(stack, count: int, timeout: float = 120) -> bool:
    """Whether the scheduler's workers come down to `count` within `timeout` (other tests' jobs
    may still be ending)."""
    scheduler = int(stack.home.joinpath("run", "scheduler.pid").read_text())
    deadline = time.monotonic() + timeout
    while len(executor_workers(scheduler)) != count:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def test_an_idle_scheduler_keeps_one_worker_and_still_runs_jobs(stack, alice, sample_image):
    assert workers_settle(stack, 1)
    job_ids = [alice.submit(job(sample_image, "sleep 2")) for _ in range(4)]
    scheduler = int(stack.home.joinpath("run", "scheduler.pid").read_text())
    most = 0
    while not all(alice.describe(i)["status"] in TERMINAL for i in job_ids):
        most = max(most, len(executor_workers(scheduler)))
        time.sleep(0.2)
    assert [alice.wait(i)["status"] for i in job_ids] == ["completed"] * 4
    assert most > 1
    assert workers_settle(stack, 1)
