"""`ProminenceJobOperator`: the one way a DAG runs a PROMINENCE job and waits for it.

    ProminenceJobOperator(task_id="hello", job={"tasks": [{"image": "busybox", "cmd": "echo hi"}]})

It submits the job through the REST API (so the job is an ordinary job: its own id, status, logs,
listed by `prominence list`), then defers to `ProminenceJobTrigger`, so a waiting task holds no
worker slot. The task fails unless the job completed successfully as a workflow counts it
(spec §7.3): status `completed` with every task exiting 0, or with `reportJobSuccessOnTaskFailure`.
It returns the job id (XCom `return_value`); `push_stdout=True` also pushes the job's stdout as
XCom `stdout`, for later tasks to template with. `job` is templated.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException

from prominence.hooks.prominence import ProminenceHook
from prominence.triggers.job import ProminenceJobTrigger

# An XCom lives in the metadata database: stdout beyond this is refused rather than stored.
MAX_STDOUT_BYTES = 1024 * 1024


def job_succeeded(job: dict[str, Any], task_failures_are_success: bool) -> bool:
    """Spec §7.3 for one described job."""
    if job.get("status") != "completed":
        return False
    tasks = job.get("execution", {}).get("tasks", [])
    return task_failures_are_success or all(task.get("exitCode") == 0 for task in tasks)


class ProminenceJobOperator(BaseOperator):
    template_fields = ("job",)
    template_fields_renderers = {"job": "json"}
    ui_color = "#d9ecf4"

    def __init__(
        self,
        *,
        job: dict[str, Any],
        prominence_conn_id: str = ProminenceHook.default_conn_name,
        poll_interval: float = 2.0,
        push_stdout: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.job = job
        self.prominence_conn_id = prominence_conn_id
        self.poll_interval = poll_interval
        self.push_stdout = push_stdout

    @property
    def hook(self) -> ProminenceHook:
        return ProminenceHook(self.prominence_conn_id)

    def execute(self, context: Any) -> None:
        job_id = self.hook.submit_job(self.job)
        self.log.info("Submitted PROMINENCE job %s", job_id)
        context["ti"].xcom_push(key="job_id", value=job_id)
        self.defer(
            trigger=ProminenceJobTrigger(job_id, self.prominence_conn_id, self.poll_interval),
            method_name="execute_complete",
        )

    def execute_complete(self, context: Any, event: dict[str, Any]) -> int:
        job_id = event["job_id"]
        if "error" in event:
            raise AirflowException(f"PROMINENCE job {job_id}: {event['error']}")
        job = event["job"]
        report_success = bool(self.job.get("policies", {}).get("reportJobSuccessOnTaskFailure"))
        if not job_succeeded(job, report_success):
            exits = [task.get("exitCode") for task in job.get("execution", {}).get("tasks", [])]
            reason = job.get("statusReason") or f"task exit codes {exits}"
            raise AirflowException(f"PROMINENCE job {job_id} ended {job.get('status')}: {reason}")
        self.log.info("PROMINENCE job %s completed", job_id)
        if self.push_stdout:
            stdout = self.hook.job_output(job_id)
            if len(stdout.encode()) > MAX_STDOUT_BYTES:
                raise AirflowException(f"PROMINENCE job {job_id}: stdout larger than {MAX_STDOUT_BYTES} bytes for XCom")
            context["ti"].xcom_push(key="stdout", value=stdout)
        return job_id
