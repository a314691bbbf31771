"""How a job's status, statusReason and execution follow from its task reports (spec §5.3).

Read in the scheduler when a run ends, and by the reconciler for a write-back that was lost.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from prominence.config import get_settings
from prominence.contract.states import JobStatus
from prominence.contract.tasks import (
    CONTAINER_TASK,
    MEMORY_EXCEEDED,
    REPORT_KEY,
    STAGE_IN_TASK,
    STAGE_OUT_TASK,
    WALLTIME_EXCEEDED,
    job_conf,
)

TASK_FIELDS = (
    "imagePullStatus",
    "imagePullTime",
    "imageSha256",
    "exitCode",
    "retries",
    "wallTimeUsage",
    "cpuTimeUsage",
    "maxResidentSetSizeKB",
)
IMAGE_PULL_FAILED = "Container image pull failed"
WALLTIME_REASON = "Walltime limit exceeded"
MEMORY_REASON = "Job used too much memory"
NO_TASKS_RUN = "Unable to execute task(s)"
# Spec §5.3, in the order of its table: a later matching rule overrides an earlier one.
STAGE_IN_REASONS = {"failedDownload": "Artifact download failed", "failedUncompress": "Artifact uncompress failed"}
STAGE_OUT_REASONS = {
    "failedNoSuchFile": "Stageout failed due to no such file or directory",
    "failedUpload": "Unable to stageout output to object storage",
    "failedTarCreation": "Stageout failed due to tarball creation failed",
}


@dataclass
class Outcome:
    status: str
    reason: str | None
    execution: dict[str, Any] = field(default_factory=dict)
    start_time: int | None = None
    # What a workflow sees (the wrapper's exit code, spec §13.8): False when a task failed.
    succeeded: bool = True
    # Why the attempt failed (scheduler/retry.py): task, image, staging, memory, walltime or
    # infrastructure; None when nothing did. `failure_reason` says it in words.
    failure: str | None = None
    failure_reason: str | None = None


def outcome_from_reports(
    reports: list[dict[str, Any]],
    provisioned: dict[str, Any],
    site: str,
    *,
    stagein: dict[str, Any] | None = None,
    stageout: dict[str, Any] | None = None,
    lost_tasks: bool = False,
) -> Outcome:
    """The terminal outcome of a finished run from its container tasks' reports and, for a job
    that staged data, the stage-in and stage-out reports (`{"stagein": [...]}`,
    `{"files": [...], "directories": [...]}`, spec §13.9). `lost_tasks`: a container task ended
    failed without its final report, so it lost its worker (an infrastructure failure)."""
    reports = sorted((r for r in reports if not r.get("skipped")), key=lambda r: r["index"])
    execution: dict[str, Any] = {
        # Where the first task ran (each container task reports its worker's site), else `site`.
        "site": next((r["site"] for r in reports if r.get("site")), site),
        "provisionedResources": provisioned,
        "runtimeVersion": {r["runtime"]: r["runtimeVersion"] for r in reports if r.get("runtimeVersion")},
        "tasks": [{k: r[k] for k in TASK_FIELDS if r.get(k) is not None} for r in reports],
    }
    if reports and reports[0].get("cpu"):
        execution["cpu"] = reports[0]["cpu"]
    peaks = [r["maxMemoryUsageKB"] for r in reports if r.get("maxMemoryUsageKB") is not None]
    if peaks:
        execution["maxMemoryUsageKB"] = max(peaks)
    starts = [r["startTime"] for r in reports if r.get("startTime")]
    outcome = Outcome(JobStatus.COMPLETED, None, execution, min(starts) if starts else None)
    outcome.succeeded = bool(reports) and all(r.get("succeeded") for r in reports)
    staged_in = (stagein or {}).get("stagein", [])
    staged_out = (stageout or {}).get("files", []) + (stageout or {}).get("directories", [])
    for key, entries in (("stageInTime", staged_in), ("stageOutTime", staged_out)):
        seconds = round(sum(e.get("time", 0) for e in entries), 3)
        if seconds > 0:
            execution[key] = seconds
    statuses = {e.get("status") for e in staged_in + staged_out}
    rules = [
        (status in statuses, JobStatus.FAILED, reason, "staging")
        for status, reason in (STAGE_IN_REASONS | STAGE_OUT_REASONS).items()
    ]
    rules += [
        (any(r.get("imagePullStatus") == "failed" for r in reports), JobStatus.FAILED, IMAGE_PULL_FAILED, "image"),
        (any(r.get("error") == WALLTIME_EXCEEDED for r in reports), JobStatus.KILLED, WALLTIME_REASON, "walltime"),
        (any(r.get("error") == MEMORY_EXCEEDED for r in reports), JobStatus.KILLED, MEMORY_REASON, "memory"),
    ]
    matched = [(status, reason, failure) for applies, status, reason, failure in rules if applies]
    failed_task = next((r for r in reports if not r.get("succeeded")), None)
    if matched:
        outcome.status, outcome.reason, outcome.failure = matched[-1]
        outcome.failure_reason = outcome.reason
    elif not reports:
        outcome.status, outcome.reason = JobStatus.FAILED, NO_TASKS_RUN
        outcome.failure, outcome.failure_reason = "infrastructure", NO_TASKS_RUN
    elif failed_task is not None:
        outcome.failure = "task"
        outcome.failure_reason = f"Task {failed_task['index']} exited with code {failed_task.get('exitCode')}"
    elif lost_tasks:
        outcome.status, outcome.reason = JobStatus.FAILED, NO_TASKS_RUN
        outcome.failure, outcome.failure_reason = "infrastructure", "A task ended without its report (its worker was lost)"
    # The wrapper's exit code (spec §13.8) is 1 when stage-in or stage-out failed too.
    outcome.succeeded = outcome.succeeded and statuses <= {"success"}
    return outcome


# What a staging task that failed without a report stands for (it crashed, or was killed).
CRASHED_STAGE_REPORTS = {
    STAGE_IN_TASK: {"stagein": [{"name": "", "status": "failedDownload"}]},
    STAGE_OUT_TASK: {"files": [{"name": "", "status": "failedUpload"}], "directories": []},
}


def _failed_stages(session, dag_run) -> set[str]:
    """The staging tasks of the run that ended failed."""
    # Airflow's ORM loads only where used: this module is imported with the plugin in every task process.
    from airflow.models.taskinstance import TaskInstance as TI

    query = select(TI.task_id).where(
        TI.dag_id == dag_run.dag_id,
        TI.run_id == dag_run.run_id,
        TI.task_id.in_((STAGE_IN_TASK, STAGE_OUT_TASK)),
        TI.state.in_(("failed", "upstream_failed")),
    )
    return set(session.scalars(query))


def _failed_tasks(session, dag_run) -> set[int]:
    """The map indexes of the run's container tasks that ended failed."""
    # Airflow's ORM loads only where used: this module is imported with the plugin in every task process.
    from airflow.models.taskinstance import TaskInstance as TI

    query = select(TI.map_index).where(
        TI.dag_id == dag_run.dag_id, TI.run_id == dag_run.run_id, TI.task_id == CONTAINER_TASK, TI.state == "failed"
    )
    return set(session.scalars(query))


def outcome_of(session, dag_run) -> dict:
    """The terminal state of the job of an ended run, from its tasks' reports (finish_job's arguments).

    A staging task that failed without pushing its report counts as failed with the spec's reason,
    never as a job that completed."""
    # Airflow's ORM loads only where used: this module is imported with the plugin in every task process.
    from airflow.models.xcom import XComModel

    rows = session.execute(
        select(XComModel.task_id, XComModel.value).where(
            XComModel.dag_id == dag_run.dag_id,
            XComModel.run_id == dag_run.run_id,
            XComModel.task_id.in_((CONTAINER_TASK, STAGE_IN_TASK, STAGE_OUT_TASK)),
            XComModel.key == REPORT_KEY,
        )
    )
    reports, staging = [], {}
    for row in rows:
        if row.task_id == CONTAINER_TASK:
            reports.append(XComModel.deserialize_value(row))
        else:
            staging[row.task_id] = XComModel.deserialize_value(row)
    for task_id in _failed_stages(session, dag_run) - set(staging):
        staging[task_id] = CRASHED_STAGE_REPORTS[task_id]
    conf = job_conf(dag_run.conf)
    outcome = outcome_from_reports(
        reports,
        conf.get("provisioned", {}),
        get_settings().site,
        stagein=staging.get(STAGE_IN_TASK),
        stageout=staging.get(STAGE_OUT_TASK),
        lost_tasks=bool(_failed_tasks(session, dag_run) - {r["index"] for r in reports if r.get("final")}),
    )
    start = outcome.start_time or (int(dag_run.start_date.timestamp()) if dag_run.start_date else None)
    return {
        "status": str(outcome.status),
        "reason": outcome.reason,
        "end_time": int(time.time()),
        "start_time": start,
        "execution": outcome.execution,
        "succeeded": outcome.succeeded,
        "failure": outcome.failure,
        "failure_reason": outcome.failure_reason,
    }
