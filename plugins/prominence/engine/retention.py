"""Sandboxes are deleted PROMINENCE_SANDBOX_RETENTION_HOURS after their job or workflow ended
(deleted, removed and finished alike), so a job's files, logs and token do not outlive it.

A directory no row claims (a submission that failed between creating it and committing its row)
goes once it is older than the retention too. `sweep_sandboxes` is called periodically by the
api-server's housekeeping; it only ever looks at the directories that exist.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from prominence.config import get_settings
from prominence.contract.states import TERMINAL
from prominence.store.db import session_scope
from prominence.store.tables import jobs, workflows

log = logging.getLogger(__name__)
BATCH = 500
WORKFLOW_PREFIX = "workflow-"


def sweep_sandboxes(now: float, sessions: Callable[[], AbstractContextManager[Session]] = session_scope) -> list[Path]:
    """Delete the sandboxes whose retention has passed at `now` (epoch seconds); the deleted."""
    settings = get_settings()
    cutoff = now - settings.sandbox_retention_hours * 3600
    if not settings.sandboxes.is_dir():
        return []
    directories = sorted(path for path in settings.sandboxes.iterdir() if path.is_dir() and not path.is_symlink())
    expired = []
    with sessions() as session:
        for batch in _batches(directories):
            ended = _end_times(session, batch)
            for path in batch:
                end_time = ended[path.name] if path.name in ended else _last_change(path)
                if end_time is not None and end_time <= cutoff:
                    expired.append(path)
    for path in expired:
        shutil.rmtree(path, ignore_errors=True)
        log.info("Deleted sandbox %s after its retention", path.name)
    return expired


def _batches(paths: list[Path]) -> Iterator[list[Path]]:
    for start in range(0, len(paths), BATCH):
        yield paths[start : start + BATCH]


def _end_times(session: Session, batch: list[Path]) -> dict[str, int | None]:
    """For each directory some row claims: when its job or workflow ended (None: not yet)."""
    names = [path.name for path in batch]
    found: dict[str, int | None] = {}
    for uuid, status, end_time in session.execute(
        select(jobs.c.uuid, jobs.c.status, jobs.c.end_time).where(jobs.c.uuid.in_(names))
    ):
        found[uuid] = end_time if status in TERMINAL else None
    workflow_ids = [
        int(name[len(WORKFLOW_PREFIX) :])
        for name in names
        if name.startswith(WORKFLOW_PREFIX) and name[len(WORKFLOW_PREFIX) :].isdigit()
    ]
    query = select(workflows.c.id, workflows.c.status, workflows.c.end_time).where(workflows.c.id.in_(workflow_ids))
    for workflow_id, status, end_time in session.execute(query):
        found[f"{WORKFLOW_PREFIX}{workflow_id}"] = end_time if status in TERMINAL else None
    return found


def _last_change(path: Path) -> float | None:
    """A directory no row claims counts from its last change."""
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return None
