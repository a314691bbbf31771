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


def test_bob_reaches_none_of_alices_keys_or_objects(alice, bob):
    assert alice.client.post("/kv/isolation/secret", content=b"alice's value").status_code == 201
    assert bob.client.get("/kv/isolation/secret").status_code == 404
    assert "alice's value" not in bob.client.get("/kv", params={"list": "", "values": ""}).text
    refused = {
        "GET": bob.client.get("/data/alice"),
        "POST": bob.client.post("/data/upload", json={"filename": "alice/planted.txt"}),
        "DELETE": bob.client.delete("/data/alice/anything.txt"),
    }
    assert {method: response.status_code for method, response in refused.items()} == {"GET": 403, "POST": 403, "DELETE": 403}
    assert alice.client.get("/kv/isolation/secret").text == "alice's value"


def test_bob_cannot_read_alices_logs_by_any_route(bob, alices_job):
    for path in (f"/jobs/{alices_job}/stdout", f"/jobs/{alices_job}/stderr"):
        for headers in ({}, {"Range": "bytes=0-"}):
            response = bob.client.get(path, headers=headers)
            assert response.status_code == 403 and "secret" not in response.text


def test_an_image_pull_token_is_never_returned(alice, sample_image):
    token = "pull-token-never-shown"
    body = job(sample_image, "true", name="with-credential")
    body["tasks"][0]["imagePullCredential"] = {"username": "someone", "token": token}
    job_id = alice.submit(body)
    answers = [
        alice.client.get("/jobs"),
        alice.client.get("/jobs", params={"detail": "", "all": ""}),
        alice.client.get(f"/jobs/{job_id}"),
    ]
    assert all(response.status_code == 200 and token not in response.text for response in answers)
    assert alice.describe(job_id)["tasks"][0]["imagePullCredential"] == {"username": "someone", "token": "***"}
    alice.client.delete(f"/jobs/{job_id}")
