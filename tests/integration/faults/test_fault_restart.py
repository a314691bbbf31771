"""`down` then `up` with jobs in every state: each ends as a user expects, a job that had
already ended never runs again (an interrupted one runs again after `up`, as documented), and
the stack runs its jobs again within RECOVERY_LIMIT_SECONDS of `up` returning."""

from __future__ import annotations

import time

from tests.integration.api import Api
from tests.integration.faults.conftest import USER
from tests.integration.faults.helpers import RECOVERY_LIMIT_SECONDS, marked, report, runs_of, time_to_full_speed, wait_all


def test_down_and_up_with_jobs_in_every_state(stack, alice, sample_image):
    completed = [marked(sample_image) for _ in range(3)]
    completed_ids = {alice.submit(body): marker for body, marker in completed}
    failed_id = alice.submit(marked(sample_image.replace("busybox", "missing"))[0])
    wait_all(alice, [*completed_ids, failed_id], timeout=120)
    running_body, running_marker = marked(sample_image, 30)
    running_id = alice.submit(running_body)
    alice.wait(running_id, states=("running",))
    waiting = [marked(sample_image, 1, resources={"nodes": 1, "cpus": 1, "memory": 1, "disk": 10}) for _ in range(8)]
    waiting_ids = {alice.submit(body): marker for body, marker in waiting}
    deleted_id = alice.submit(marked(sample_image, 60)[0])
    assert alice.client.delete(f"/jobs/{deleted_id}").status_code == 200

    assert stack.stack_py("down").returncode == 0
    up = stack.stack_py("up")
    assert up.returncode == 0, up.stdout + up.stderr
    up_at = time.monotonic()
    fresh = Api(stack.url, stack.token(USER))
    recovered = time_to_full_speed(stack, fresh, up_at)

    jobs = wait_all(fresh, [*completed_ids, failed_id, running_id, *waiting_ids, deleted_id], timeout=240)
    report("down/up", recovered_after_up_s=recovered, jobs=len(jobs))
    assert {job_id: jobs[job_id]["status"] for job_id in completed_ids} == {job_id: "completed" for job_id in completed_ids}
    assert {job_id: runs_of(fresh, job_id, m) for job_id, m in completed_ids.items()} == {job_id: 1 for job_id in completed_ids}
    assert jobs[failed_id]["status"] == "failed"
    assert jobs[deleted_id]["status"] == "deleted"
    assert jobs[running_id]["status"] == "completed" and runs_of(fresh, running_id, running_marker) in (1, 2)
    assert {job_id: jobs[job_id]["status"] for job_id in waiting_ids} == {job_id: "completed" for job_id in waiting_ids}
    assert {job_id: runs_of(fresh, job_id, m) for job_id, m in waiting_ids.items()} == {job_id: 1 for job_id in waiting_ids}
    assert recovered <= RECOVERY_LIMIT_SECONDS
