"""Job retries (`maximumRetries`) and memory limits on the real stack: a retried job runs again
from its first task and keeps each attempt in its execution; a job over its walltime or its
memory is not retried; a container over its memory is killed in both runtimes."""

from __future__ import annotations

import pytest

from tests.integration.api import job
from tests.integration.test_kv import in_container

# Fails the first time (no value yet: it writes one), succeeds once the value is there.
FAIL_ONCE = in_container(
    'key="$PROMINENCE_URL/kv/retry-$PROMINENCE_JOB_ID"; '
    'if wget -q -O- --header "$auth" "$key"; then echo " second"; exit 0; fi; '
    'echo first; printf seen > /tmp/v; wget -q -O /dev/null --header "$auth" --post-file /tmp/v "$key"; exit 1'
)
# 400 MB in one buffer, past a limit of 0.2 GB (200 MB).
MEMORY_HOG = "dd if=/dev/zero of=/dev/null bs=400M count=1"


@pytest.fixture(scope="module")
def over_walltime(alice, sample_image):
    """Started first, checked last: a one-minute walltime overrun that may be retried twice."""
    body = job(sample_image, "sleep 600", policies={"maximumRetries": 2})
    body["resources"]["walltime"] = 1
    return alice.submit(body)


def test_a_job_that_always_fails_ends_failed_after_all_its_attempts(alice, sample_image):
    registry = sample_image.split("/")[0]
    described = alice.wait(alice.submit(job(f"{registry}/prominence/missing:latest", "true", policies={"maximumRetries": 2})))
    assert (described["status"], described["statusReason"]) == ("failed", "Container image pull failed")
    assert described["execution"]["retries"] == 2
    assert [(a["attempt"], a["failure"], a["reason"]) for a in described["execution"]["attempts"]] == [
        (n, "image", "Container image pull failed") for n in (1, 2, 3)
    ]


def test_a_job_whose_task_fails_once_is_retried_and_completes(alice, sample_image, over_walltime):
    job_id = alice.submit(job(sample_image, FAIL_ONCE, policies={"maximumRetries": 2}))
    described = alice.wait(job_id, timeout=180)
    assert described["status"] == "completed", described
    execution = described["execution"]
    assert execution["retries"] == 1
    first, second = execution["attempts"]
    assert (first["attempt"], first["failure"], first["reason"]) == (1, "task", "Task 0 exited with code 1")
    assert second["attempt"] == 2 and "failure" not in second
    assert [t["exitCode"] for t in execution["tasks"]] == [0]
    # Both attempts' output, the second one's after the first's.
    assert alice.stdout(job_id) == "first\nseen second\n"


@pytest.mark.parametrize("runtime", ["singularity", "udocker"])
def test_a_container_over_its_memory_is_killed_and_not_retried(alice, sample_image, runtime):
    body = job(sample_image, MEMORY_HOG, runtime=runtime, policies={"maximumRetries": 1})
    body["resources"]["memory"] = 0.2
    described = alice.wait(alice.submit(body), timeout=180)
    assert (described["status"], described["statusReason"]) == ("killed", "Job used too much memory"), described
    execution = described["execution"]
    assert 0 < execution["maxMemoryUsageKB"] <= 200 * 1024 * 1024 // 1000 + 1
    assert [(a["attempt"], a["failure"]) for a in execution["attempts"]] == [(1, "memory")]
    assert "retries" not in execution


def test_a_job_over_its_walltime_is_not_retried(alice, over_walltime):
    described = alice.wait(over_walltime, timeout=240)
    assert (described["status"], described["statusReason"]) == ("killed", "Walltime limit exceeded")
    assert [(a["attempt"], a["failure"]) for a in described["execution"]["attempts"]] == [(1, "walltime")]
    assert "retries" not in described["execution"]
