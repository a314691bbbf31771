"""ProminenceJobOperator: submits, defers to its trigger, and decides success as spec §7.3 does."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import httpx
import pytest
from airflow.sdk.exceptions import AirflowException, TaskDeferred

from prominence.hooks.prominence import ProminenceHook
from prominence.operators.job import ProminenceJobOperator
from prominence.triggers.job import ProminenceJobTrigger

JOB = {"tasks": [{"image": "busybox", "cmd": "echo 42"}]}


class FakeTI:
    def __init__(self) -> None:
        self.pushed: dict = {}

    def xcom_push(self, key, value) -> None:
        self.pushed[key] = value


@pytest.fixture
def api(monkeypatch):
    """POST /jobs answers id 7; GET /jobs/7/stdout answers 42."""
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        if request.method == "POST":
            return httpx.Response(201, json={"id": 7})
        return httpx.Response(200, text="42\n")

    original = ProminenceHook._client_kwargs
    monkeypatch.setattr(
        ProminenceHook,
        "_client_kwargs",
        lambda self, url, token: {**original(self, url, token), "transport": httpx.MockTransport(handler)},
    )
    monkeypatch.setenv("AIRFLOW_CONN_MINE", json.dumps({"conn_type": "http", "host": "http://api/p", "password": "t"}))
    return sent


def ended(status: str, *exit_codes: int, reason: str | None = None) -> dict:
    job = {"id": 7, "status": status, "execution": {"tasks": [{"exitCode": code} for code in exit_codes]}}
    if reason:
        job["statusReason"] = reason
    return {"job_id": 7, "job": job}


def test_execute_submits_then_defers_to_the_job_trigger(api):
    operator = ProminenceJobOperator(task_id="t", job=JOB, prominence_conn_id="mine", poll_interval=3)
    ti = FakeTI()
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute({"ti": ti})
    assert json.loads(api[0].content) == JOB
    assert ti.pushed == {"job_id": 7}
    trigger = deferred.value.trigger
    assert isinstance(trigger, ProminenceJobTrigger)
    assert trigger.serialize()[1] == {"job_id": 7, "prominence_conn_id": "mine", "poll_seconds": 3}
    assert deferred.value.method_name == "execute_complete"


def test_a_job_completed_with_every_task_exiting_0_succeeds():
    operator = ProminenceJobOperator(task_id="t", job=JOB)
    assert operator.execute_complete({"ti": FakeTI()}, ended("completed", 0, 0)) == 7


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (ended("completed", 0, 1), r"ended completed: task exit codes \[0, 1\]"),
        (ended("failed", reason="Container image pull failed"), "ended failed: Container image pull failed"),
        (ended("killed", 0, reason="Walltime limit exceeded"), "ended killed: Walltime limit exceeded"),
        ({"job_id": 7, "error": "job 7 no longer exists"}, "job 7 no longer exists"),
    ],
)
def test_anything_else_fails_the_task(event, message):
    operator = ProminenceJobOperator(task_id="t", job=JOB)
    with pytest.raises(AirflowException, match=message):
        operator.execute_complete({"ti": FakeTI()}, event)


def test_report_job_success_on_task_failure_counts_a_nonzero_exit_as_success():
    job = {**JOB, "policies": {"reportJobSuccessOnTaskFailure": True}}
    operator = ProminenceJobOperator(task_id="t", job=job)
    assert operator.execute_complete({"ti": FakeTI()}, ended("completed", 3)) == 7


def test_push_stdout_hands_the_output_to_later_tasks(api):
    operator = ProminenceJobOperator(task_id="t", job=JOB, prominence_conn_id="mine", push_stdout=True)
    ti = FakeTI()
    assert operator.execute_complete({"ti": ti}, ended("completed", 0)) == 7
    assert ti.pushed == {"stdout": "42\n"}
    assert str(api[0].url) == "http://api/p/jobs/7/stdout?offset=0"


def test_the_example_dag_runs_two_jobs_the_second_templated_from_the_first():
    path = Path(__file__).resolve().parents[2] / "dags" / "example_prominence_job.py"
    spec = importlib.util.spec_from_file_location("example_prominence_job", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dag = module.dag
    compute, report = dag.get_task("compute"), dag.get_task("report")
    assert compute.downstream_task_ids == {"report"}
    assert compute.push_stdout and "xcom_pull(task_ids='compute', key='stdout')" in report.job["tasks"][0]["cmd"]
