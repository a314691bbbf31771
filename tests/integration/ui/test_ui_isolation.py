"""Two people log into Airflow's UI through the OIDC provider (headless Chromium): each sees their
own jobs on the PROMINENCE page with their output, neither can read the job DAG's runs or logs,
each sees the DAG of their own workflow and no other;
an administrator sees every run, with its owner, the job's name and labelled container tasks, and
reads a container task's log: the container's output, the job's token masked."""

from __future__ import annotations

import json
import time

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from prominence.contract.states import TERMINAL
from tests.integration.api import Api
from tests.integration.ui.browser import job_rows, log_into_airflow, open_prominence_page, page_text, screenshot


@pytest.fixture(scope="module")
def jobs(oidc_stack, oidc_sample_image) -> dict[str, int]:
    """A finished job of alice's and one of bob's, each printing its owner's name, and its token
    on stderr (which the task log must mask)."""
    submitted = {}
    for user in ("alice", "bob"):
        api = Api(oidc_stack.url, oidc_stack.token(user))
        job = {
            "name": f"{user}-analysis",
            "resources": {"cpus": 1, "memory": 1},
            "tasks": [
                {
                    "image": oidc_sample_image,
                    "runtime": "udocker",
                    "cmd": f"sh -c 'echo hello from {user}; echo token:$PROMINENCE_TOKEN >&2'",
                }
            ],
        }
        submitted[user] = api.submit(job)
        assert api.wait(submitted[user])["status"] == "completed"
    return submitted


@pytest.fixture(scope="module")
def workflow(oidc_stack, oidc_sample_image) -> str:
    """A finished workflow of alice's, kept (`leaveInQueue`): the id of its DAG."""
    api = Api(oidc_stack.url, oidc_stack.token("alice"))
    node = {"name": "step", "resources": {"cpus": 1, "memory": 1}, "tasks": [{"image": oidc_sample_image, "cmd": "true"}]}
    body = {"name": "alice-workflow", "jobs": [node], "policies": {"leaveInQueue": True}}
    response = api.client.post("/workflows", json=body)
    assert response.status_code == 201, response.text
    workflow_id = response.json()["id"]
    deadline = time.monotonic() + 180
    while (status := api.client.get(f"/workflows/{workflow_id}").json()[0]["status"]) not in TERMINAL:
        assert time.monotonic() < deadline, status
        time.sleep(0.5)
    assert status == "completed"
    return f"prominence_workflow_{workflow_id}"


def airflow_api(browser, base_url: str, path: str) -> tuple[int, dict]:
    """GET one of Airflow's own REST routes with the browser's login, as the UI itself does."""
    answer = browser.execute_async_script(
        """const done = arguments[arguments.length - 1];
        fetch(arguments[0], {credentials: "same-origin"}).then(async (r) => done([r.status, await r.text()]));""",
        f"{base_url}/api/v2/{path}",
    )
    return answer[0], json.loads(answer[1])


@pytest.mark.parametrize(("user", "other"), [("alice", "bob"), ("bob", "alice")])
def test_each_user_sees_only_their_own_jobs_and_output(oidc_stack, jobs, browser, user, other):
    base_url = oidc_stack.url.removesuffix("/prominence/v1")
    log_into_airflow(browser, base_url, user)
    open_prominence_page(browser, base_url)
    rows = job_rows(browser, {f"{user}-analysis"})
    assert f"{other}-analysis" not in rows
    assert rows[f"{user}-analysis"][2] == "completed" and rows[f"{user}-analysis"][6] == "0"
    browser.find_element(By.CSS_SELECTOR, f"button[data-job='{jobs[user]}'][data-stream='stdout']").click()
    WebDriverWait(browser, 30).until(lambda d: f"hello from {user}" in d.find_element(By.ID, "log-text").text)
    browser.switch_to.default_content()
    screenshot(browser, f"prominence-page-{user}")

    status, runs = airflow_api(browser, base_url, "dags/prominence_job/dagRuns")
    assert status == 403, runs
    status, log = airflow_api(
        browser, base_url, f"dags/prominence_job/dagRuns/job-{jobs[other]}/taskInstances/task/logs/1?map_index=0"
    )
    assert status == 403, log


def test_an_administrator_sees_every_run_with_its_owner_name_and_task_labels(oidc_stack, jobs, browser):
    base_url = oidc_stack.url.removesuffix("/prominence/v1")
    log_into_airflow(browser, base_url, "admin-lee")
    status, answer = airflow_api(browser, base_url, "dags/prominence_job/dagRuns")
    assert status == 200, answer
    runs = {run["dag_run_id"]: run for run in answer["dag_runs"]}
    for user, job_id in jobs.items():
        run = runs[f"job-{job_id}"]
        assert (run["triggering_user_name"], run["note"]) == (user, f"{user}-analysis")
        status, tasks = airflow_api(browser, base_url, f"dags/prominence_job/dagRuns/job-{job_id}/taskInstances")
        labels = [ti["rendered_map_index"] for ti in tasks["task_instances"] if ti["task_id"] == "task"]
        assert labels == [f"task 0: {oidc_stack.env['SAMPLE_IMAGE']}"], tasks
    browser.get(f"{base_url}/dags/prominence_job/runs")
    WebDriverWait(browser, 60).until(lambda d: all(f"job-{job_id}" in d.page_source for job_id in jobs.values()))
    screenshot(browser, "runs-admin")


def task_log_page(base_url: str, job_id: int) -> str:
    """The Airflow UI's view of a job's first container task, whose first tab is its log."""
    return f"{base_url}/dags/prominence_job/runs/job-{job_id}/tasks/task/mapped/0"


def test_an_administrator_reads_the_container_output_in_a_task_log(oidc_stack, jobs, browser):
    base_url = oidc_stack.url.removesuffix("/prominence/v1")
    log_into_airflow(browser, base_url, "admin-lee")
    browser.get(task_log_page(base_url, jobs["alice"]))
    text = page_text(browser, lambda text: "[stdout] hello from alice" in text and "token:" in text)
    assert "[stderr] token:***" in text and "token:eyJ" not in text
    screenshot(browser, "task-log-admin")


def test_a_user_opening_a_task_log_sees_none_of_it(oidc_stack, jobs, browser):
    base_url = oidc_stack.url.removesuffix("/prominence/v1")
    log_into_airflow(browser, base_url, "bob")
    for owner in ("alice", "bob"):
        browser.get(task_log_page(base_url, jobs[owner]))
        text = page_text(browser, lambda text: "No Task Instance found" in text)
        assert "hello from" not in text and "token:" not in text


def test_the_owner_of_a_workflow_sees_its_dag_and_run(oidc_stack, workflow, browser):
    base_url = oidc_stack.url.removesuffix("/prominence/v1")
    log_into_airflow(browser, base_url, "alice")

    def listed(d):
        status, dags = airflow_api(d, base_url, "dags")
        return status == 200 and [dag["dag_id"] for dag in dags["dags"]]

    # The dag-processor grants the DAG's access control when it parses the workflow's file.
    assert WebDriverWait(browser, 60).until(listed) == [workflow]

    # The workflow completes with its last job; its DAG run ends once its nodes have noticed.
    def ended(d):
        status, runs = airflow_api(d, base_url, f"dags/{workflow}/dagRuns")
        states = [run["state"] for run in runs.get("dag_runs", [])]
        return (status, states, runs) if states != ["running"] and states != ["queued"] else False

    status, states, runs = WebDriverWait(browser, 60).until(ended)
    assert (status, states) == (200, ["success"]), runs
    browser.get(f"{base_url}/dags")
    page_text(browser, lambda text: workflow in text)
    screenshot(browser, "dags-alice")


def test_another_user_sees_no_dag_and_no_run(oidc_stack, jobs, workflow, browser):
    base_url = oidc_stack.url.removesuffix("/prominence/v1")
    log_into_airflow(browser, base_url, "bob")
    for path, key in (("dags", "dags"), ("dags/~/dagRuns", "dag_runs")):
        status, answer = airflow_api(browser, base_url, path)
        assert status == 403 or (status, answer[key]) == (200, []), answer
    status, runs = airflow_api(browser, base_url, f"dags/{workflow}/dagRuns")
    assert status == 403, runs
