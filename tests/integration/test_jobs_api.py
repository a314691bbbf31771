"""The jobs endpoints (spec §6) against the real stack: what a user submits, lists and reads."""

from __future__ import annotations

import time

import httpx
import jwt
import pytest

from tests.integration.api import job


@pytest.fixture(scope="module")
def finished(alice, sample_image):
    """Three finished jobs of alice with names and labels, and one still running."""
    ids = {
        "a": alice.submit(job(sample_image, "echo alpha", name="first", labels={"app": "x"})),
        "b": alice.submit(job(sample_image, "echo beta", name="second", labels={"app": "y"})),
        "c": alice.submit(job(sample_image, "echo gamma", name="third")),
    }
    for job_id in ids.values():
        assert alice.wait(job_id)["status"] == "completed"
    ids["running"] = alice.submit(job(sample_image, "sleep 120", name="sleeper", labels={"app": "x"}))
    alice.wait(ids["running"], states=("running",))
    yield ids
    alice.client.delete(f"/jobs/{ids['running']}")


def test_create_answers_201_with_an_integer_id(alice, sample_image):
    response = alice.client.post("/jobs", json=job(sample_image, "true"))
    assert response.status_code == 201
    assert isinstance(response.json()["id"], int)


def test_ids_increase(alice, sample_image):
    first, second = alice.submit(job(sample_image, "true")), alice.submit(job(sample_image, "true"))
    assert second > first


def test_describe_returns_the_job_with_detail(alice, finished):
    described = alice.describe(finished["a"])
    assert described["name"] == "first"
    assert described["status"] == "completed"
    assert described["labels"] == {"app": "x"}
    assert described["resources"] == {"nodes": 1, "cpus": 1, "memory": 1, "disk": 10}
    assert described["tasks"][0]["cmd"] == "echo alpha"
    assert set(described["events"]) == {"createTime", "startTime", "endTime"}
    assert described["execution"]["tasks"][0]["exitCode"] == 0


def test_describe_of_an_unknown_job_is_an_empty_list(alice):
    response = alice.client.get("/jobs/999999")
    assert (response.status_code, response.json()) == (200, [])


def test_default_list_shows_active_jobs_only(alice, finished):
    listed = alice.ids("/jobs", num=1)
    assert finished["running"] in listed
    assert finished["a"] not in listed


def test_completed_lists_the_most_recent_first_up_to_num(alice, finished):
    response = alice.client.get("/jobs", params={"completed": "true", "num": 2})
    ids = [j["id"] for j in response.json()]
    assert len(ids) == 2 and finished["running"] not in ids
    assert alice.ids("/jobs", completed="true").__len__() == 1


def test_all_lists_active_and_completed(alice, finished):
    listed = alice.ids("/jobs", num=1, all="true")
    assert set(finished.values()) <= set(listed)


def test_status_name_constraint_and_id_filters(alice, finished):
    assert alice.ids("/jobs", status="running") == [finished["running"]]
    assert finished["running"] not in alice.ids("/jobs", status="idle")
    assert alice.ids("/jobs", all="true", name="second") == [finished["b"]]
    assert alice.ids("/jobs", all="true", constraint="app=x") == sorted([finished["a"], finished["running"]])
    assert alice.ids("/jobs", id=f"{finished['a']},{finished['c']}") == sorted([finished["a"], finished["c"]])


def test_detail_adds_resources_to_the_list(alice, finished):
    plain = alice.client.get("/jobs", params={"id": finished["a"]}).json()[0]
    detailed = alice.client.get("/jobs", params={"id": finished["a"], "detail": "true"}).json()[0]
    assert "resources" not in plain and "execution" not in plain
    assert detailed["resources"]["cpus"] == 1 and "execution" in detailed


def test_bad_list_parameters_are_400_json(alice):
    for params, message in (({"status": "done"}, "invalid status specified"), ({"constraint": "x"}, "Invalid constraint")):
        response = alice.client.get("/jobs", params=params)
        assert (response.status_code, response.json()) == (400, {"error": message})


def test_stdout_and_stderr_with_offsets(alice, sample_image):
    job_id = alice.submit(job(sample_image, "sh -c 'echo hello world; echo oops >&2'"))
    alice.wait(job_id)
    assert alice.stdout(job_id) == "hello world\n"
    assert alice.stdout(job_id, offset=6) == "world\n"
    assert alice.stdout(job_id, offset=100) == ""
    assert alice.stdout(job_id, "stderr") == "oops\n"
    response = alice.client.get(f"/jobs/{job_id}/stdout")
    assert response.headers["content-type"].startswith("text/plain")


def test_stdout_is_readable_while_the_job_runs(alice, sample_image):
    job_id = alice.submit(job(sample_image, "sh -c 'echo started; sleep 30'"))
    alice.wait(job_id, states=("running",))
    for _ in range(50):
        if alice.stdout(job_id) == "started\n":
            break
        __import__("time").sleep(0.2)
    assert alice.stdout(job_id) == "started\n"
    alice.client.delete(f"/jobs/{job_id}")


def test_stdout_of_an_unknown_job_is_400(alice):
    response = alice.client.get("/jobs/999999/stdout")
    assert (response.status_code, response.json()) == (400, {"error": "Job does not exist"})


def test_clone_resubmits_the_same_description(alice, finished):
    response = alice.client.put(f"/jobs/{finished['b']}/clone")
    assert response.status_code == 201
    clone = alice.wait(response.json()["id"])
    assert clone["tasks"] == alice.describe(finished["b"])["tasks"]
    assert clone["name"] == "second" and clone["status"] == "completed"


def test_delete_of_a_finished_or_unknown_job_is_400(alice, finished):
    for job_id in (finished["a"], 999999):
        response = alice.client.delete(f"/jobs/{job_id}")
        assert (response.status_code, response.json()) == (400, {"error": "No such job(s)"})


def test_bulk_delete_by_ids(alice, sample_image):
    ids = [alice.submit(job(sample_image, "sleep 60")) for _ in range(2)]
    response = alice.client.delete("/jobs", params={"id": ",".join(map(str, ids))})
    assert (response.status_code, response.json()) == (200, {})
    for job_id in ids:
        described = alice.wait(job_id)
        assert (described["status"], described["statusReason"]) == ("deleted", "Job deleted by user")
    response = alice.client.delete("/jobs")
    assert response.json() == {"error": "a job id or list of job ids must be provided"}


def test_leave_in_queue_keeps_a_finished_job_listed_until_removed(alice, sample_image):
    job_id = alice.submit(job(sample_image, "true", policies={"leaveInQueue": True}))
    alice.wait(job_id)
    assert job_id in alice.ids("/jobs")
    assert alice.client.put(f"/jobs/{job_id}/remove").status_code == 200
    assert job_id not in alice.ids("/jobs")
    assert job_id in alice.ids("/jobs", completed="true", num=-1)
    response = alice.client.put(f"/jobs/{job_id}/remove")
    assert (response.status_code, response.json()) == (400, {"error": "Job is no longer in the queue"})


def test_health_needs_no_token_and_everything_else_does(stack):
    assert httpx.get(f"{stack.url}/health").status_code == 204
    for headers in ({}, {"Authorization": "Bearer"}, {"Authorization": "Bearer not-a-jwt"}):
        response = httpx.get(f"{stack.url}/jobs", headers=headers)
        assert (response.status_code, response.json()) == (401, {"error": "Authentication failure"})


def test_a_token_signed_by_someone_else_is_refused(stack):
    forged = jwt.encode(
        {"username": "alice", "groups": "", "exp": int(time.time()) + 600}, "not-the-server-secret-" * 2, algorithm="HS256"
    )
    response = httpx.get(f"{stack.url}/jobs", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401


def test_an_airflow_ui_user_token_works_as_that_user(stack):
    base = stack.env["AIRFLOW__API__BASE_URL"]
    login = httpx.post(f"{base}/auth/token", json={"username": "admin", "password": stack.admin_password})
    token = login.json()["access_token"]
    response = httpx.get(f"{stack.url}/jobs", headers={"Authorization": f"Bearer {token}"})
    assert (response.status_code, response.json()) == (200, [])
