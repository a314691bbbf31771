"""Response schemas: the job representation of spec §4, built from a stored job row."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

DETAIL_FIELDS = (
    "resources",
    "policies",
    "notifications",
    "artifacts",
    "inputs",
    "labels",
    "storage",
)


SECRET_FIELDS = frozenset({"token", "password"})
HIDDEN = "***"


class Events(BaseModel):
    createTime: int
    startTime: int | None = None
    endTime: int | None = None


class ResourceView(BaseModel):
    """What the views of a job and of a workflow share."""

    model_config = ConfigDict(extra="forbid")

    id: int
    name: str = ""
    status: str
    statusReason: str | None = None
    events: Events


class JobView(ResourceView):
    """One job as `GET /jobs` returns it; detail fields are present only when asked for."""

    tasks: list[dict[str, Any]]
    parameters: dict[str, Any] | None = None
    resources: dict[str, Any] | None = None
    policies: dict[str, Any] | None = None
    notifications: list[dict[str, Any]] | None = None
    artifacts: list[dict[str, Any]] | None = None
    inputs: list[dict[str, Any]] | None = None
    labels: dict[str, str] | None = None
    storage: dict[str, Any] | None = None
    outputFiles: list[dict[str, Any]] | None = None
    outputDirs: list[dict[str, Any]] | None = None
    execution: dict[str, Any] | None = Field(default=None)


class Created(BaseModel):
    id: int


def job_view(
    row: Any, status: str, start_time: int | None, detail: bool, outputs: dict[str, list] | None = None
) -> dict[str, Any]:
    """The JSON of one job; `status` and `start_time` are live for jobs still running.
    `outputs`: `outputFiles`/`outputDirs` with their download URLs, once staged out."""
    spec = row.spec
    view: dict[str, Any] = {
        "id": row.id,
        "name": row.name,
        "status": status,
        "tasks": redacted(spec["tasks"]),
        "events": {"createTime": row.create_time},
    }
    if row.status_reason is not None:
        view["statusReason"] = row.status_reason
    if getattr(row, "parameters", None) is not None:  # factory instances only (spec §4.1)
        view["parameters"] = row.parameters
    if start_time:
        view["events"]["startTime"] = start_time
    if row.end_time:
        view["events"]["endTime"] = row.end_time
    if detail:
        view.update({key: redacted(spec[key]) for key in DETAIL_FIELDS if key in spec})
        for key in ("outputFiles", "outputDirs"):
            if key in spec:
                view[key] = (outputs or {}).get(key) or [{"name": name, "url": ""} for name in spec[key]]
        view["execution"] = row.execution or {}
    return view


def redacted(value: Any) -> Any:
    """Part of a description as returned: credentials given in it (the OneData token, spec
    §3.6; an image pull credential's token; any `token` or `password` field) are never shown."""
    if isinstance(value, dict):
        return {key: HIDDEN if key in SECRET_FIELDS else redacted(item) for key, item in value.items()}
    if isinstance(value, list):
        return [redacted(item) for item in value]
    return value
