"""Queries on the workflows table and on the jobs that belong to workflows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, insert, select, update
from sqlalchemy.orm import Session

from prominence.store.jobs import TERMINAL
from prominence.store.tables import jobs, workflows

# What the engine needs of a workflow's job to decide what to release and what is done.
MEMBER_COLUMNS = (
    jobs.c.id,
    jobs.c.workflow_id,
    jobs.c.workflow_job,
    jobs.c.workflow_index,
    jobs.c.workflow_try,
    jobs.c.status,
    jobs.c.succeeded,
    jobs.c.start_time,
)


def insert_workflow(session: Session, **values: Any) -> None:
    session.execute(insert(workflows).values(**values))


def get_workflow(session: Session, workflow_id: int) -> Row | None:
    return session.execute(select(workflows).where(workflows.c.id == workflow_id)).first()


def find_workflows(
    session: Session,
    owner: str,
    *,
    active: bool,
    completed_limit: int,
    workflow_ids: Sequence[int] | None = None,
    name: str | None = None,
) -> list[Row]:
    """As `store.jobs.find_jobs`: active ones plus up to `completed_limit` that left the queue."""
    base = select(workflows).where(workflows.c.owner == owner)
    if name is not None:
        base = base.where(workflows.c.name == name)
    if workflow_ids is not None:
        return list(session.execute(base.where(workflows.c.id.in_(list(workflow_ids)))))
    rows: list[Row] = []
    if active:
        rows.extend(session.execute(base.where(workflows.c.in_queue.is_(True))))
    if completed_limit != 0:
        done = base.where(workflows.c.in_queue.is_(False)).order_by(workflows.c.end_time.desc(), workflows.c.id.desc())
        if completed_limit > 0:
            done = done.limit(completed_limit)
        rows.extend(session.execute(done))
    return rows


def finish_workflow(session: Session, workflow_id: int, *, status: str, reason: str | None, end_time: int) -> bool:
    """Write the terminal state once; a workflow already terminal keeps its state."""
    result = session.execute(
        update(workflows)
        .where(workflows.c.id == workflow_id, workflows.c.status.not_in(TERMINAL))
        .values(status=status, status_reason=reason, end_time=end_time, in_queue=workflows.c.leave_in_queue)
    )
    return result.rowcount > 0


def mark_started(session: Session, workflow_id: int, when: int) -> None:
    session.execute(
        update(workflows).where(workflows.c.id == workflow_id, workflows.c.start_time.is_(None)).values(start_time=when)
    )


def remove_from_queue(session: Session, workflow_id: int) -> bool:
    result = session.execute(
        update(workflows)
        .where(workflows.c.id == workflow_id, workflows.c.in_queue.is_(True))
        .values(leave_in_queue=False)
    )
    session.execute(
        update(workflows).where(workflows.c.id == workflow_id, workflows.c.status.in_(TERMINAL)).values(in_queue=False)
    )
    return result.rowcount > 0


def members(session: Session, workflow_ids: Sequence[int], job: str | None = None) -> list[Row]:
    """Jobs of these workflows (a rerun's lineage), oldest first, so later rows supersede earlier ones."""
    query = select(*MEMBER_COLUMNS).where(jobs.c.workflow_id.in_(list(workflow_ids)))
    if job is not None:
        query = query.where(jobs.c.workflow_job == job)
    return list(session.execute(query.order_by(jobs.c.id)))


def member_job(session: Session, workflow_ids: Sequence[int], job: str, index: int | None) -> Row | None:
    """The latest job of instance `index` of `job` (None: a job without factory) in the lineage."""
    query = select(jobs).where(jobs.c.workflow_id.in_(list(workflow_ids)), jobs.c.workflow_job == job)
    query = query.where(jobs.c.workflow_index.is_(None) if index is None else jobs.c.workflow_index == index)
    return session.execute(query.order_by(jobs.c.id.desc()).limit(1)).first()


def active_member_ids(session: Session, workflow_id: int) -> list[int]:
    query = select(jobs.c.id).where(jobs.c.workflow_id == workflow_id, jobs.c.status.not_in(TERMINAL))
    return list(session.scalars(query))
