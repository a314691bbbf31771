"""Jobs run for real in both container runtimes, and end with the spec's states and reasons."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from tests.integration.api import job

RUNTIMES = ("singularity", "udocker")


@pytest.fixture(scope="module")
def slow_jobs(alice, sample_image):
    """Started first, checked last: a walltime overrun that holds a pool slot meanwhile, and a job
    that can only start once every slot is free, with a one-minute limit on its time in queue."""
    walltime = job(sample_image, "sleep 600")
    walltime["resources"]["walltime"] = 2
    ids = {"walltime": alice.submit(walltime)}
    alice.wait(ids["walltime"], states=("running",))
    queued = job(sample_image, "true", policies={"maximumTimeInQueue": 1})
    queued["resources"]["cpus"] = int(os.environ.get("PROMINENCE_WORKER_CPUS") or os.cpu_count())
    ids["queued"] = alice.submit(queued)
    return ids


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_nonzero_exit_is_completed_with_its_exit_code(alice, sample_image, slow_jobs, runtime):
    described = alice.wait(alice.submit(job(sample_image, "sh -c 'exit 3'", runtime=runtime)))
    assert described["status"] == "completed"
    assert "statusReason" not in described
    assert described["execution"]["tasks"][0]["exitCode"] == 3
    assert runtime in described["execution"]["runtimeVersion"]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_the_container_sees_its_environment(alice, sample_image, runtime):
    body = job(
        sample_image,
        "sh -c 'echo $FOO $PROMINENCE_JOB_ID $PROMINENCE_TASK_NUM $PROMINENCE_CONTAINER_RUNTIME $HOME; pwd'",
        runtime=runtime,
    )
    body["tasks"][0].update(env={"FOO": "bar"}, workdir="sub")
    job_id = alice.submit(body)
    described = alice.wait(job_id)
    assert described["status"] == "completed", described
    assert alice.stdout(job_id) == f"bar {job_id} 0 {runtime} /home/user\n/home/user/sub\n"


def test_tasks_run_in_order_sharing_their_home(alice, sample_image):
    body = job(sample_image, "sh -c 'echo one > file'")
    body["tasks"] += [
        {"image": sample_image, "runtime": "udocker", "cmd": "sh -c 'echo two >> file'"},
        {"image": sample_image, "runtime": "singularity", "cmd": "cat file"},
    ]
    job_id = alice.submit(body)
    described = alice.wait(job_id)
    assert alice.stdout(job_id) == "one\ntwo\n"
    tasks = described["execution"]["tasks"]
    assert [t["exitCode"] for t in tasks] == [0, 0, 0]
    assert [t["imagePullStatus"] for t in tasks] == ["completed", "completed", "cached"]


def test_a_failed_task_stops_the_job_unless_failures_are_ignored(alice, sample_image):
    def two_tasks(**extra):
        body = job(sample_image, "sh -c 'echo first; exit 2'", **extra)
        body["tasks"].append({"image": sample_image, "runtime": "singularity", "cmd": "echo second"})
        return body

    stopped, ignored = alice.submit(two_tasks()), alice.submit(two_tasks(policies={"ignoreTaskFailures": True}))
    assert [t["exitCode"] for t in alice.wait(stopped)["execution"]["tasks"]] == [2]
    assert alice.stdout(stopped) == "first\n"
    assert [t["exitCode"] for t in alice.wait(ignored)["execution"]["tasks"]] == [2, 0]
    assert alice.stdout(ignored) == "first\nsecond\n"


def test_task_retries_rerun_a_failing_task(alice, sample_image):
    job_id = alice.submit(job(sample_image, "sh -c 'echo try; exit 1'", policies={"maximumTaskRetries": 2}))
    described = alice.wait(job_id)
    assert described["execution"]["tasks"][0]["retries"] == 2
    assert alice.stdout(job_id) == "try\n" * 3


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_missing_image_fails_the_job(alice, sample_image, runtime):
    registry = sample_image.split("/")[0]
    described = alice.wait(alice.submit(job(f"{registry}/prominence/missing:latest", "true", runtime=runtime)))
    assert (described["status"], described["statusReason"]) == ("failed", "Container image pull failed")
    assert described["execution"]["tasks"] == [{"imagePullStatus": "failed", "retries": 0}]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_deleting_a_running_job_stops_its_container(alice, sample_image, runtime):
    marker = 4000 + RUNTIMES.index(runtime)
    job_id = alice.submit(job(sample_image, f"sleep {marker}", runtime=runtime))
    alice.wait(job_id, states=("running",))
    for _ in range(50):
        if sleeping(marker):
            break
        time.sleep(0.2)
    assert sleeping(marker)
    assert alice.client.delete(f"/jobs/{job_id}").status_code == 200
    described = alice.describe(job_id)
    assert (described["status"], described["statusReason"]) == ("deleted", "Job deleted by user")
    deadline = time.monotonic() + 20
    while sleeping(marker) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not sleeping(marker)


def test_walltime_kills_the_job(alice, slow_jobs):
    described = alice.wait(slow_jobs["walltime"], timeout=240)
    assert (described["status"], described["statusReason"]) == ("killed", "Walltime limit exceeded")


@pytest.mark.skipif(
    os.environ.get("PROMINENCE_EXECUTOR") == "celery",
    reason="with several workers the pool always holds more than one job's cpus",
)
def test_a_job_queued_too_long_fails(alice, slow_jobs):
    described = alice.wait(slow_jobs["queued"], timeout=240)
    assert (described["status"], described["statusReason"]) == ("failed", "Maximum time queued was exceeded")
    assert "startTime" not in described["events"]


def sleeping(seconds: int) -> bool:
    return subprocess.run(["pgrep", "-f", f"sleep {seconds}$"], capture_output=True).returncode == 0
