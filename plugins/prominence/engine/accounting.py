"""Usage of finished jobs (`GET /accounting`, spec §12), from the task usage their runs reported
(`execution.tasks[].cpuTimeUsage` and `wallTimeUsage`, scheduler/outcome.py)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.orm import Session

from prominence.auth.identity import Identity
from prominence.store import jobs as store

HOUR = 3600.0


def epoch_range(start: date, end: date) -> tuple[int, int]:
    """Submission times of the days `start` to `end` (UTC), both included."""
    first = datetime.combine(start, time(), UTC)
    after = datetime.combine(end + timedelta(days=1), time(), UTC)
    return int(first.timestamp()), int(after.timestamp())


def usage(session: Session, identity: Identity, start: date, end: date, *, by_group: bool, all_users: bool) -> dict:
    """The spec's `usage`: the caller's totals; with `all_users`, those of every user of the
    caller's group (none but the caller when the caller has no group); with `by_group`, only the
    group's total."""
    group = identity.groups
    wide = bool(group) and (by_group or all_users)
    rows = store.finished_between(session, *epoch_range(start, end), owner=identity.username, group=group if wide else None)
    users: dict[str, dict] = defaultdict(_empty)
    groups: dict[str, dict] = defaultdict(_empty)
    for row in rows:
        tasks = [task for task in (row.execution or {}).get("tasks", []) if "wallTimeUsage" in task]
        if tasks:
            cpus = (row.execution.get("provisionedResources") or {}).get("cpus") or 1
            _add(groups[group] if by_group else users[row.owner], tasks, cpus)
    return {"users": dict(users), "groups": dict(groups)}


def _empty() -> dict:
    return {"cpuTime": 0.0, "wallTime": 0.0, "numberOfJobs": 0}


def _add(totals: dict, tasks: list[dict], cpus: int) -> None:
    totals["cpuTime"] += sum(task.get("cpuTimeUsage", 0) for task in tasks) / HOUR
    totals["wallTime"] += sum(task["wallTimeUsage"] for task in tasks) * cpus / HOUR
    totals["numberOfJobs"] += 1
