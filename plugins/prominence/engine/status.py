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


def outcome_from_reports(
    reports: list[dict[str, Any]],
    provisioned: dict[str, Any],
    site: str,
    *,
    stagein: dict[str, Any] | None = None,
    stageout: dict[str, Any] | None = None,
) -> Outcome:
    """The terminal outcome of a finished run from its container tasks' reports and, for a job
    that staged data, the stage-in and stage-out reports (`{"stagein": [...]}`,
    `{"files": [...], "directories": [...]}`, spec §13.9)."""
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
    staged_in = (stagein or {}).get("stagein", [])
    staged_out = (stageout or {}).get("files", []) + (stageout or {}).get("directories", [])
    for key, entries in (("stageInTime", staged_in), ("stageOutTime", staged_out)):
        seconds = round(sum(e.get("time", 0) for e in entries), 3)
        if seconds > 0:
            execution[key] = seconds
    statuses = {e.get("status") for e in staged_in + staged_out}
    rules = [(status in statuses, "failed", reason) for status, reason in (STAGE_IN_REASONS | STAGE_OUT_REASONS).items()]
    rules += [
        (any(r.get("imagePullStatus") == "failed" for r in reports), "failed", IMAGE_PULL_FAILED),
        (any(r.get("error") == "WallTimeLimitExceeded" for r in reports), "killed", WALLTIME_EXCEEDED),
    ]
    matched = [(status, reason) for applies, status, reason in rules if applies]
    if matched:
        outcome.status, outcome.reason = matched[-1]
    elif not reports:
        outcome.status, outcome.reason = "failed", NO_TASKS_RUN
    # The wrapper's exit code (spec §13.8) is 1 when stage-in or stage-out failed too.
    outcome.succeeded = outcome.succeeded and statuses <= {"success"}
    return outcome
