"""The listing query parameters jobs and workflows share (spec §6.2), parsed once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request

from prominence.config import get_settings
from prominence.rest.common import integer
from prominence.rest.errors import bad_request

STATUSES = ("idle", "running", "pending")


@dataclass
class ListQuery:
    active: bool
    completed_limit: int
    detail: bool
    ids: list[int] | None = None
    workflow_id: int | None = None
    name: str | None = None
    status: str | None = None
    label: tuple[str, str] | None = None

    def matches_labels(self, labels: dict | None) -> bool:
        return self.label is None or (labels or {}).get(self.label[0]) == self.label[1]

    def filter_rows(self, rows: list[Any]) -> list[Any]:
        """The stored rows whose labels match `constraint` (rows need their labels only then)."""
        return rows if self.label is None else [row for row in rows if self.matches_labels(row.labels)]

    def filter_views(self, views: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The views in the asked-for live `status` (only known once the views are built)."""
        return views if self.status is None else [view for view in views if view["status"] == self.status]


def list_query(request: Request) -> ListQuery:
    """Presence flags count whatever their value, except `completed` and `workflow` (== "true")."""
    params = request.query_params
    completed = params.get("completed") == "true"
    everything = "all" in params
    num = integer(params.get("num", "1"), "num")
    ids = [integer(part, "id") for part in params.get("id", "").split(",") if part.strip()] or None
    query = ListQuery(active=not completed, completed_limit=num if completed else 0, detail="detail" in params)
    if everything:
        query.active, query.completed_limit = True, -1
    if "name" in params:
        query.name = params["name"]
    if "constraint" in params:
        key, sep, value = params.getlist("constraint")[0].partition("=")
        if not sep or "=" in value or not key:
            raise bad_request("Invalid constraint")
        query.label = (key, value)
    if "status" in params:
        if params["status"] not in STATUSES:
            raise bad_request("invalid status specified")
        query.status = "pending" if params["status"] == "idle" and _pending() else params["status"]
        query.active, query.completed_limit = True, 0
    if ids and params.get("workflow") == "true":
        query.workflow_id = ids[0]
        query.active = not completed or everything
        query.completed_limit = -1 if completed or everything else 0
    elif ids:
        query.ids = ids
    return query


def _pending() -> bool:
    return get_settings().use_pending_state
