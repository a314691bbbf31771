"""What a committed end of a workflow's job tells the processes waiting for it, without a query.

Two marks in the stack's home, both touched only once the end is committed (a waiter woken
earlier would read the old state and go back to sleep): the workflow's `events` file, whose
mtime its nodes' triggers watch (triggers/workflow.py), and an entry named after the workflow
in the `workflow-ended` folder, which the api-server takes to release what may now run
(engine/workflow_events.py); a newly stored workflow leaves the entry too, for its first jobs.
Both are hints: whoever waits on them also asks on a timer.
"""

from __future__ import annotations

import logging

from sqlalchemy import event
from sqlalchemy.orm import Session

from prominence.contract.workflows import ended_marks, events_file

log = logging.getLogger(__name__)
# Where a session keeps the workflows whose jobs it ended, until it commits or rolls back.
PENDING = "prominence_ended_workflows"


def member_ended(workflow_id: int) -> None:
    """Drop both marks now (the caller's end of the job is committed)."""
    try:
        events = events_file(workflow_id)
        if events.parent.is_dir():
            events.touch()
    except OSError as exc:
        log.warning("Workflow %s: could not mark a job's end (%s); its nodes see it on their next poll", workflow_id, exc)
    release_wanted(workflow_id)


def release_wanted(workflow_id: int) -> None:
    """Have the api-server release what of the workflow may run now (its first jobs, once it is
    stored; the children of a job that ended)."""
    try:
        marks = ended_marks()
        marks.mkdir(parents=True, exist_ok=True)
        (marks / str(workflow_id)).touch()
    except OSError as exc:
        log.warning("Workflow %s: could not ask for a release (%s); its nodes release its jobs", workflow_id, exc)


def on_commit(session: Session, workflow_id: int) -> None:
    """Drop both marks when `session`'s transaction commits (not at all if it rolls back)."""
    pending = session.info.get(PENDING)
    if pending is None:
        pending = session.info[PENDING] = set()
        event.listen(session, "after_commit", _committed)
        event.listen(session, "after_rollback", _rolled_back)
    pending.add(workflow_id)


def _committed(session: Session) -> None:
    pending = session.info.get(PENDING) or set()
    while pending:
        member_ended(pending.pop())


def _rolled_back(session: Session) -> None:
    (session.info.get(PENDING) or set()).clear()
