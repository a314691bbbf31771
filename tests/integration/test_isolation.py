"""Two users: neither sees nor touches the other's jobs (spec §2)."""

from __future__ import annotations

import pytest

from tests.integration.api import job


@pytest.fixture(scope="module")
def alices_job(alice, sample_image):
    job_id = alice.submit(job(sample_image, "sh -c 'echo secret; sleep 30'", policies={"leaveInQueue": True}))
    alice.wait(job_id, states=("running",))
    yield job_id
    alice.client.delete(f"/jobs/{job_id}")


def test_bob_does_not_list_or_describe_alices_jobs(bob, alices_job):
    assert alices_job not in bob.ids("/jobs", all="true")
    assert bob.ids("/jobs", id=alices_job) == []
    assert bob.client.get(f"/jobs/{alices_job}").json() == []


@pytest.mark.parametrize(
    "method, path",
    [("GET", "/jobs/{}/stdout"), ("GET", "/jobs/{}/stderr"), ("PUT", "/jobs/{}/clone"), ("PUT", "/jobs/{}/remove")],
)
def test_bob_is_refused_with_403(bob, alices_job, method, path):
    response = bob.client.request(method, path.format(alices_job))
    assert (response.status_code, response.json()) == (403, {"error": "Not authorized to access this job"})


def test_bob_cannot_delete_alices_job(alice, bob, alices_job):
    for response in (bob.client.delete(f"/jobs/{alices_job}"), bob.client.delete("/jobs", params={"id": alices_job})):
        assert (response.status_code, response.json()) == (400, {"error": "No such job(s)"})
    assert alice.describe(alices_job)["status"] == "running"
