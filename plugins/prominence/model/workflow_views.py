"""Response schema of a workflow (spec §7.4), built from a stored workflow row and its progress."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from prominence.model.views import ResourceView, redacted

DETAIL_FIELDS = ("jobs", "dependencies", "factories", "policies", "labels", "notifications")


class Progress(BaseModel):
    """How many of the workflow's job instances are where."""

    total: int
    done: int
    failed: int
    queued: int
    waiting: int


class WorkflowView(ResourceView):
    """One workflow as `GET /workflows` returns it; detail fields are present only when asked for."""

    progress: Progress
    jobs: list[dict[str, Any]] | None = None
    dependencies: dict[str, list[str]] | None = None
    factories: list[dict[str, Any]] | None = None
    policies: dict[str, Any] | None = None
    labels: dict[str, str] | None = None
    notifications: list[dict[str, Any]] | None = None


def workflow_view(row: Any, status: str, progress: dict[str, int], *, detail: bool) -> dict[str, Any]:
    """The JSON of one workflow; `status` is live for a workflow still running."""
    view: dict[str, Any] = {
        "id": row.id,
        "name": row.name,
        "status": status,
        "events": {"createTime": row.create_time},
        "progress": progress,
    }
    if row.status_reason is not None:
        view["statusReason"] = row.status_reason
    if row.start_time:
        view["events"]["startTime"] = row.start_time
    if row.end_time:
        view["events"]["endTime"] = row.end_time
    if detail:
        spec = row.spec
        view.update({key: spec[key] for key in DETAIL_FIELDS if key in spec})
        if "jobs" in view:
            view["jobs"] = redacted(view["jobs"])
    return view
