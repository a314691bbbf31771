"""How a job's status, statusReason and execution follow from its task reports (spec §5.3)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
WALLTIME_EXCEEDED = "Walltime limit exceeded"
NO_TASKS_RUN = "Unable to execute task(s)"


@dataclass
class Outcome:
    status: str
    reason: str | None
    execution: dict[str, Any] = field(default_factory=dict)
    start_time: int | None = None
    # What a workflow sees (the wrapper's exit code, spec §13.8): False when a task failed.
    succeeded: bool = True


def outcome_from_reports(reports: list[dict[str, Any]], provisioned: dict[str, Any], site: str) -> Outcome:
    """The terminal outcome of a finished run from its container tasks' reports."""
    reports = sorted((r for r in reports if not r.get("skipped")), key=lambda r: r["index"])
    execution: dict[str, Any] = {
        "site": site,
        "provisionedResources": provisioned,
        "runtimeVersion": {r["runtime"]: r["runtimeVersion"] for r in reports if r.get("runtimeVersion")},
        "tasks": [{k: r[k] for k in TASK_FIELDS if r.get(k) is not None} for r in reports],
    }
    if reports and reports[0].get("cpu"):
        execution["cpu"] = reports[0]["cpu"]
    starts = [r["startTime"] for r in reports if r.get("startTime")]
    outcome = Outcome("completed", None, execution, min(starts) if starts else None)
    outcome.succeeded = bool(reports) and all(r.get("succeeded") for r in reports)
    if not reports:
        outcome.status, outcome.reason = "failed", NO_TASKS_RUN
    elif any(r.get("imagePullStatus") == "failed" for r in reports):
        outcome.status, outcome.reason = "failed", IMAGE_PULL_FAILED
    elif any(r.get("error") == "WallTimeLimitExceeded" for r in reports):
        outcome.status, outcome.reason = "killed", WALLTIME_EXCEEDED
    return outcome
