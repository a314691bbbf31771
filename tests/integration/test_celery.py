"""With PROMINENCE_EXECUTOR=celery, jobs run on separate Celery workers: every worker takes its
share, a job's output is live while another worker runs it, and the stack shows its workers."""

from __future__ import annotations

import time

import pytest

from tests.integration.api import job

pytestmark = pytest.mark.celery


def workers(stack) -> int:
    return int(stack.env["PROMINENCE_CELERY_WORKERS"])


def test_status_shows_every_worker_running(stack):
    status = stack.stack_py("status")
    assert status.returncode == 0, status.stdout + status.stderr
    lines = dict(line.split(None, 1) for line in status.stdout.splitlines())
    for i in range(1, workers(stack) + 1):
        assert lines[f"worker-{i}"].startswith("running pid "), status.stdout


def test_jobs_filling_the_pool_run_on_every_worker(stack, alice, sample_image):
    """The pool holds each worker's cpus and each worker runs that many tasks at once, so jobs
    that fill the pool together must be spread over all of them (execution.site names the worker)."""
    slots = int(stack.env["PROMINENCE_WORKER_CPUS"]) * workers(stack)
    ids = [alice.submit(job(sample_image, "sleep 8")) for _ in range(slots)]
    sites = {alice.wait(job_id, timeout=240)["execution"]["site"] for job_id in ids}
    assert {site.split("@")[0] for site in sites} == {f"worker-{i}" for i in range(1, workers(stack) + 1)}


def test_output_is_served_by_offset_while_a_worker_runs_the_job(alice, sample_image):
    job_id = alice.submit(job(sample_image, "sh -c 'echo first; sleep 8; echo second'"))
    alice.wait(job_id, states=("running",))
    deadline = time.monotonic() + 30
    while not alice.stdout(job_id) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert alice.stdout(job_id) == "first\n"
    assert alice.describe(job_id)["status"] == "running"
    assert alice.wait(job_id)["status"] == "completed"
    assert alice.stdout(job_id, offset=len("first\n")) == "second\n"
