"""The public operator on the real stack: the example DAG a data engineer would write, triggered
through Airflow's REST API, runs two PROMINENCE jobs (the second reading what the first printed)
as the connection's user; a job that fails fails its task and stops the DAG."""

from __future__ import annotations

import time

import httpx

from tests.integration.api import Api, job
from tests.integration.test_stack import admin_client

DAG_ID = "example_prominence_job"


def trigger(client: httpx.Client, conf: dict) -> str:
    """Create a run, waiting for the dag-processor to have parsed the DAG."""
    deadline = time.monotonic() + 60
    while True:
        response = client.post(f"/dags/{DAG_ID}/dagRuns", json={"logical_date": None, "conf": conf})
        if response.status_code != 404 or time.monotonic() > deadline:
            assert response.status_code == 200, response.text
            return response.json()["dag_run_id"]
        time.sleep(0.5)


def wait_run(client: httpx.Client, run_id: str, timeout: float = 180) -> str:
    deadline = time.monotonic() + timeout
    while True:
        state = client.get(f"/dags/{DAG_ID}/dagRuns/{run_id}").json()["state"]
        if state in ("success", "failed") or time.monotonic() > deadline:
            return state
        time.sleep(0.5)


def xcom(client: httpx.Client, run_id: str, task: str, key: str):
    response = client.get(f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task}/xcomEntries/{key}")
    assert response.status_code == 200, response.text
    return response.json()["value"]


def test_example_dag_runs_two_jobs_in_sequence_and_fails_with_a_failing_job(stack, sample_image):
    with admin_client(stack) as client:
        good = trigger(client, {"image": sample_image})
        bad = trigger(client, {"image": sample_image.rsplit(":", 1)[0] + ":missing"})
        assert wait_run(client, good) == "success"
        assert wait_run(client, bad) == "failed"
        compute, report = (xcom(client, good, task, "return_value") for task in ("compute", "report"))
        failed = xcom(client, bad, "compute", "job_id")
        states = {
            ti["task_id"]: ti["state"]
            for ti in client.get(f"/dags/{DAG_ID}/dagRuns/{bad}/taskInstances").json()["task_instances"]
        }
    assert states == {"compute": "failed", "report": "upstream_failed"}

    owner = Api(stack.url, stack.token("airflow"))
    first, second = owner.describe(int(compute)), owner.describe(int(report))
    assert (first["name"], first["status"], second["name"], second["status"]) == ("compute", "completed", "report", "completed")
    assert first["events"]["endTime"] <= second["events"]["createTime"]
    assert owner.stdout(int(compute)) == "42\n"
    assert owner.stdout(int(report)) == "the answer is 42\n"
    assert (owner.describe(int(failed))["statusReason"]) == "Container image pull failed"


def test_a_dag_scheduled_on_a_jobs_output_runs_when_the_job_uploads_it(stack, alice, sample_image):
    """dags/example_prominence_output_asset.py waits for alice's `daily-simulation` result.txt."""
    consumer = "example_prominence_output_asset"
    with admin_client(stack) as client:
        deadline = time.monotonic() + 60
        while client.get(f"/dags/{consumer}").status_code == 404 and time.monotonic() < deadline:
            time.sleep(0.5)
        body = job(sample_image, "sh -c 'echo 42 > result.txt'", name="daily-simulation", outputFiles=["result.txt"])
        job_id = alice.submit(body)
        assert alice.wait(job_id)["status"] == "completed"
        deadline = time.monotonic() + 120
        while True:
            runs = client.get(f"/dags/{consumer}/dagRuns").json()["dag_runs"]
            done = [run for run in runs if run["state"] in ("success", "failed")]
            if done or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert [run["state"] for run in done] == ["success"], runs
        located = client.get(
            f"/dags/{consumer}/dagRuns/{done[0]['dag_run_id']}/taskInstances/locate_result/xcomEntries/return_value"
        ).json()["value"]
    assert located["job_id"] == job_id and located["key"].endswith("result.txt") and located["size"] == 3


def test_the_task_log_carries_the_containers_output(stack, alice, sample_image):
    """What a user sees in the Airflow UI's log of a job's task: the container's own lines."""
    job_id = alice.submit(job(sample_image, "sh -c 'echo hello from the container; echo oops >&2'"))
    assert alice.wait(job_id)["status"] == "completed"
    with admin_client(stack) as client:
        path = f"/dags/prominence_job/dagRuns/job-{job_id}/taskInstances/task/logs/1"
        response = client.get(path, params={"map_index": 0}, headers={"Accept": "application/json"})
    assert response.status_code == 200, response.text
    lines = [entry.get("event", "") for entry in response.json()["content"] if isinstance(entry, dict)]
    assert "[stdout] hello from the container" in lines and "[stderr] oops" in lines, lines
