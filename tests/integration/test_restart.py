"""`down` then `up` keeps every job with its state and logs, and every stored object; a job it
interrupted runs again."""

from __future__ import annotations

import time

import httpx

from tests.integration.api import Api, job


def test_jobs_survive_a_restart(stack, alice, sample_image):
    done = alice.submit(job(sample_image, "echo kept"))
    failed = alice.submit(job(sample_image.replace("busybox", "missing"), "true"))
    alice.wait(done), alice.wait(failed)
    running = alice.submit(job(sample_image, "sh -c 'echo start; sleep 300'"))
    alice.wait(running, states=("running",))
    wait_for_output(alice, running, "start\n")
    before = {job_id: alice.describe(job_id) for job_id in (done, failed)}
    upload = alice.client.post("/data/upload", json={"filename": "kept.bin", "checksum": None})
    assert httpx.put(upload.json()["url"], content=b"\x00kept object\n").status_code == 200
    objects = alice.client.get("/data").json()

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
    assert fresh.client.get("/data").json() == objects
    check = fresh.submit(job(sample_image, "grep -q 'kept object' kept.bin", artifacts=[{"url": "kept.bin"}]))
    assert running in fresh.ids("/jobs")
    wait_for_output(fresh, running, "start\nstart\n")
    assert fresh.describe(running)["status"] == "running"
    assert fresh.client.delete(f"/jobs/{running}").status_code == 200
    assert fresh.wait(running)["status"] == "deleted"
    assert fresh.wait(check)["execution"]["tasks"][0]["exitCode"] == 0


def wait_for_output(api: Api, job_id: int, expected: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while api.stdout(job_id) != expected and time.monotonic() < deadline:
        time.sleep(0.3)
    assert api.stdout(job_id) == expected
