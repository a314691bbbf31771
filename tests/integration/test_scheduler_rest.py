"""A scheduler with no run to look after rests on its socket instead of looping ten times a
second (scheduler/idle.py), stays healthy while it rests, and runs the next job."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.integration.api import job
from tests.integration.faults.helpers import healthy
from tests.integration.test_stack import admin_client

pytestmark = pytest.mark.integration

# select and pselect6 on x86_64 (glibc's select() is pselect6): what a wait on a socket shows.
SELECT_CALLS = {"23", "270"}


def socket_inode(path: Path) -> str:
    for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
        fields = line.split()
        if len(fields) == 8 and fields[7] == str(path):
            return fields[6]
    raise AssertionError(f"nothing listens on {path}")


def waits_on(pid: int, inode: str) -> bool:
    """Whether the process's main thread is in a select on that socket alone (nfds = its fd + 1)."""
    call = Path(f"/proc/{pid}/syscall").read_text().split()
    if call[0] not in SELECT_CALLS:
        return False
    return os.readlink(f"/proc/{pid}/fd/{int(call[1], 16) - 1}") == f"socket:[{inode}]"


def resting(stack, timeout: float = 180) -> bool:
    """Whether the scheduler is seen resting in 10 looks in a row within `timeout` (runs other
    tests left may still be ending)."""
    pid = int(stack.home.joinpath("run", "scheduler.pid").read_text())
    inode = socket_inode(stack.home / "scheduler.sock")
    deadline = time.monotonic() + timeout
    in_a_row = 0
    while in_a_row < 10 and time.monotonic() < deadline:
        in_a_row = in_a_row + 1 if waits_on(pid, inode) else 0
        time.sleep(0.1)
    return in_a_row >= 10


def active_runs(stack) -> list[tuple[str, str, str]]:
    """The DAG runs queued or running, as Airflow's API lists them: what keeps the scheduler awake."""
    with admin_client(stack) as client:
        runs = client.get("/dags/~/dagRuns", params={"state": ["queued", "running"]}).json()["dag_runs"]
    return [(run["dag_id"], run["dag_run_id"], run["state"]) for run in runs]


def no_socket_warnings(stack) -> list[str]:
    """The scheduler's log lines saying it could not bind its socket (and so never rests)."""
    log = stack.home / "logs" / "scheduler.log"
    return [line for line in log.read_text(errors="replace").splitlines() if "no socket for new runs" in line]


def test_an_idle_scheduler_rests_stays_healthy_and_still_runs_a_job(stack, alice, sample_image):
    assert resting(stack), f"the scheduler did not rest; active runs: {active_runs(stack)}; {no_socket_warnings(stack)}"
    time.sleep(20)  # longer than the scheduler's health check threshold (15 s)
    assert healthy(stack)
    job_id = alice.submit(job(sample_image, "echo woken"))
    described = alice.wait(job_id, timeout=120)
    assert described["status"] == "completed", described
    assert alice.stdout(job_id).split() == ["woken"]
