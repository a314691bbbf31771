"""`down` then `up` keeps every job with its state and logs."""

from __future__ import annotations

from tests.integration.api import Api, job


def test_jobs_survive_a_restart(stack, alice, sample_image):
    done = alice.submit(job(sample_image, "echo kept"))
    failed = alice.submit(job(sample_image.replace("busybox", "missing"), "true"))
    alice.wait(done), alice.wait(failed)
    running = alice.submit(job(sample_image, "sleep 300", policies={"leaveInQueue": True}))
    alice.wait(running, states=("running",))
    before = {job_id: alice.describe(job_id) for job_id in (done, failed)}

    assert stack.stack_py("down").returncode == 0
    up = stack.stack_py("up")
    assert up.returncode == 0, up.stdout + up.stderr

    fresh = Api(stack.url, stack.token("alice"))
    for job_id, described in before.items():
        after = fresh.describe(job_id)
        assert (after["status"], after.get("statusReason"), after["events"]) == (
            described["status"],
            described.get("statusReason"),
            described["events"],
        )
    assert fresh.stdout(done) == "kept\n"
    assert running in fresh.ids("/jobs")
    assert fresh.client.delete(f"/jobs/{running}").status_code == 200
    assert fresh.wait(running)["status"] == "deleted"
