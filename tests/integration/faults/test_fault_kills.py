"""SIGKILL of each component while jobs and a three-level workflow run: supervisord restarts it,
every job completes with its container run once, and the stack runs its jobs again within
RECOVERY_LIMIT_SECONDS of the kill. The triggerer, the dag-processor and the reconciler share
no work, so they are killed together (one test instead of three). A task process killed on its
own costs its job nothing either: Airflow retries its try, which re-attaches to the container."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.integration.faults.helpers import (
    RECOVERY_LIMIT_SECONDS,
    kill,
    marked,
    report,
    runs_of,
    three_levels,
    time_to_full_speed,
    wait_all,
    wait_restarted,
)
from tests.integration.test_workflows import jobs_of, submit, wait


def executor_workers(parent: int | None = None) -> set[int]:
    """The LocalExecutor's workers there now (those forked by `parent` if it is given)."""
    found = set()
    for proc in Path("/proc").iterdir():
        try:
            ppid = int(proc.joinpath("stat").read_text().rsplit(")", 1)[1].split()[1])
            worker = proc.joinpath("cmdline").read_bytes().startswith(b"airflow worker -- LocalExecutor")
            if worker and parent in (None, ppid):
                found.add(int(proc.name))
        except (OSError, ValueError):
            continue
    return found


# With the LocalExecutor a killed scheduler takes its executor's processes with it: a task
# process starting then exits abnormally (125) and its try fails instead of being reset as
# orphaned; Airflow's retries for tries that died (contract/tasks.py) give it the try that
# re-attaches. Its workers, idle once their tasks end, leave too (scheduler/workers.py).
@pytest.mark.parametrize("components", [("scheduler",), ("api-server",), ("triggerer", "dag-processor", "reconciler")])
def test_a_killed_component_costs_no_job(stack, alice, sample_image, components):
    component = "-".join(components)
    submitted = [marked(sample_image, 6) for _ in range(3)]
    job_ids = {alice.submit(body): marker for body, marker in submitted}
    workflow_id = submit(alice, three_levels(sample_image, f"levels-{component}"))
    time.sleep(3)

    scheduler = int(stack.home.joinpath("run", "scheduler.pid").read_text())
    old_workers = executor_workers(scheduler)
    killed_at = time.monotonic()
    old_pids = {name: kill(stack, name) for name in components}
    restarted = max(wait_restarted(stack, name, pid) for name, pid in old_pids.items())
    recovered = time_to_full_speed(stack, alice, killed_at)

    jobs = wait_all(alice, list(job_ids))
    workflow = wait(alice, workflow_id, timeout=240)
    members = jobs_of(alice, workflow_id)
    report(component, restarted_s=restarted, recovered_s=recovered, jobs=len(jobs), members=sum(map(len, members.values())))
    assert {job_id: j["status"] for job_id, j in jobs.items()} == {job_id: "completed" for job_id in job_ids}
    assert {job_id: runs_of(alice, job_id, marker) for job_id, marker in job_ids.items()} == {job_id: 1 for job_id in job_ids}
    assert workflow["status"] == "completed", workflow
    assert {name: len(found) for name, found in members.items()} == {f"levels-{component}/{level}": 1 for level in "ABC"}
    for name, (member,) in members.items():
        level = name.rsplit("/", 1)[1]
        assert runs_of(alice, member["id"], f"levels-{component}-{level}") == 1
    assert recovered <= RECOVERY_LIMIT_SECONDS
    if "scheduler" in components:
        assert old_workers and not old_workers & executor_workers()
    else:
        assert old_workers <= executor_workers(scheduler)


def task_process_of(marker: str, timeout: float = 120) -> int:
    """The pid of the task process running the container that prints `marker`: the parent of
    its shepherd (runtimes/shepherd.py), whose command line holds the container's."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in Path("/proc").iterdir():
            try:
                argv = proc.joinpath("cmdline").read_bytes().split(b"\0")
                if any(b"shepherd.py" in arg for arg in argv) and any(marker.encode() in arg for arg in argv):
                    return int(proc.joinpath("stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError):
                continue
        time.sleep(0.2)
    raise AssertionError(f"no container printing {marker} started within {timeout} s")


def test_a_killed_task_process_costs_no_run(alice, sample_image):
    """Its try died without deciding its end: Airflow retries it, the new try re-attaches to the
    container, which runs once, and the job counts no retry."""
    body, marker = marked(sample_image, 8)
    job_id = alice.submit(body)
    task_process = task_process_of(marker)
    assert Path(f"/proc/{task_process}/cmdline").read_bytes().startswith(b"airflow worker --")
    os.kill(task_process, signal.SIGKILL)
    described = alice.wait(job_id, timeout=180)
    assert described["status"] == "completed", described
    assert runs_of(alice, job_id, marker) == 1
    assert described["execution"]["tasks"][0]["retries"] == 0
    assert "retries" not in described["execution"]


def container_process_of(marker: str, timeout: float = 120) -> int:
    """The pid, seen from the host, of the job's own command: `sh -c 'echo <marker>; ...'`, once
    it has printed its marker (it has a child then, the `sleep` that follows the `echo`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in Path("/proc").iterdir():
            try:
                argv = proc.joinpath("cmdline").read_bytes().split(b"\0")
                started = len(argv) > 2 and argv[1] == b"-c" and argv[2].startswith(f"echo {marker};".encode())
                if started and proc.joinpath("task", proc.name, "children").read_text().split():
                    return int(proc.name)
            except (OSError, ValueError):
                continue
        time.sleep(0.2)
    raise AssertionError(f"no container printing {marker} started within {timeout} s")


def test_a_killed_container_ends_its_task_with_the_signal_and_is_not_run_again(alice, sample_image):
    """The job's own command SIGKILLed from the host: its task ends with 128 + 9 at once, as
    a shell reports it, the job ends `completed` with that exit code, and nothing runs again."""
    body, marker = marked(sample_image)
    # A command after the sleep keeps `sh` from exec'ing it: the process killed is the job's own.
    body["tasks"][0]["cmd"] = f"sh -c 'echo {marker}; sleep 60; echo unreachable'"
    job_id = alice.submit(body)
    os.kill(container_process_of(marker), signal.SIGKILL)
    described = alice.wait(job_id, timeout=120)
    assert described["status"] == "completed", described
    (task,) = described["execution"]["tasks"]
    assert (task["exitCode"], task["retries"]) == (137, 0)
    assert task["wallTimeUsage"] < 60
    assert runs_of(alice, job_id, marker) == 1
    assert "unreachable" not in alice.stdout(job_id)
