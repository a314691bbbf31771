"""Queries on the workflows table and on the jobs that belong to workflows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Row, exists, func, insert, literal, or_, select, update
from sqlalchemy.orm import Session

from prominence.contract.states import TERMINAL
from prominence.store.jobs import queue_listing
from prominence.store.tables import jobs, workflows


def insert_workflow(session: Session, **values: Any) -> None:
    session.execute(insert(workflows).values(**values))


def get_workflow(session: Session, workflow_id: int) -> Row | None:
    return session.execute(select(workflows).where(workflows.c.id == workflow_id)).first()


def ended_among(session: Session, workflow_ids: Sequence[int]) -> list[Row]:
    """Those of `workflow_ids` that have ended."""
    query = select(workflows.c.id, workflows.c.status, workflows.c.end_time)
    return session.execute(query.where(workflows.c.id.in_(list(workflow_ids)), workflows.c.status.in_(TERMINAL))).all()


# Our class of PostgreSQL advisory locks (two-key form, a key space apart from Airflow's one-key locks).
ADVANCE_LOCK_CLASS = 7_041_001


def serialise_advances(session: Session, workflow_id: int) -> None:
    """Make the caller's transaction the only `advance` of this workflow until it ends (PostgreSQL:
    an advisory lock, so the member inserts of other sessions are not blocked; SQLite serialises
    writers anyway and the unique member key catches the rest)."""
    query = select(func.pg_advisory_xact_lock(ADVANCE_LOCK_CLASS, workflows.c.id)).where(workflows.c.id == workflow_id)
    if session.get_bind(clause=query).dialect.name == "postgresql":
        session.execute(query)


def insert_member(session: Session, **values: Any) -> bool:
    """Insert a workflow's job unless its workflow has ended (False then, nothing written); an
    instance released already in this try raises IntegrityError (the unique member key).

    PostgreSQL: the workflow's row is share-locked first, so a delete marking it deleted waits
    for this insert, or this insert waits for the delete and then sees it. SQLite has no row
    locks: there the condition is part of the insert itself, which takes the write lock before
    evaluating it."""
    active = (workflows.c.id == values["workflow_id"]) & workflows.c.status.not_in(TERMINAL)
    check = select(workflows.c.id).where(active)
    if session.get_bind(clause=check).dialect.name != "sqlite":
        if session.execute(check.with_for_update(read=True)).first() is None:
            return False
        session.execute(insert(jobs).values(**values))
        return True
    columns = [literal(value, type_=jobs.c[name].type).label(name) for name, value in values.items()]
    statement = insert(jobs).from_select(list(values), select(*columns).where(exists().where(active)))
    return session.execute(statement).rowcount > 0


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
        return session.execute(base.where(workflows.c.id.in_(list(workflow_ids)))).all()
    return queue_listing(session, workflows, base, active=active, completed_limit=completed_limit)


def finish_workflow(session: Session, workflow_id: int, *, status: str, reason: str | None, end_time: int) -> bool:
    """Write the terminal state once; a workflow already terminal keeps its state."""
    result = session.execute(
        update(workflows)
        .where(workflows.c.id == workflow_id, workflows.c.status.not_in(TERMINAL))
        .values(status=status, status_reason=reason, end_time=end_time, in_queue=workflows.c.leave_in_queue)
    )
    return result.rowcount > 0


def active_workflows(session: Session) -> list[Row]:
    return session.execute(select(workflows).where(workflows.c.status.not_in(TERMINAL))).all()


def mark_started(session: Session, workflow_id: int, when: int) -> None:
    session.execute(
        update(workflows).where(workflows.c.id == workflow_id, workflows.c.start_time.is_(None)).values(start_time=when)
    )


def remove_from_queue(session: Session, workflow_id: int) -> bool:
    result = session.execute(
        update(workflows).where(workflows.c.id == workflow_id, workflows.c.in_queue.is_(True)).values(leave_in_queue=False)
    )
    session.execute(
        update(workflows).where(workflows.c.id == workflow_id, workflows.c.status.in_(TERMINAL)).values(in_queue=False)
    )
    return result.rowcount > 0


def _latest(workflow_ids: Sequence[int], job: str | None) -> Any:
    """The newest job id of each instance in a lineage (a rerun's job supersedes its ancestors')."""
    query = select(func.max(jobs.c.id).label("id")).where(jobs.c.workflow_id.in_(list(workflow_ids)))
    if job is not None:
        query = query.where(jobs.c.workflow_job == job)
    return query.group_by(jobs.c.workflow_job, jobs.c.workflow_index).subquery()


def member_summary(session: Session, workflow_ids: Sequence[int], job: str | None = None) -> list[Row]:
    """The latest job of every instance of these workflows (or of one of their jobs), counted by
    what decides its fate: rows of (workflow_job, status, succeeded, workflow_id, workflow_try,
    n, last_index). A few rows however many instances, so a 100,000-member sweep costs one
    aggregate query per poll, not 100,000 rows."""
    latest = _latest(workflow_ids, job)
    keys = (jobs.c.workflow_job, jobs.c.status, jobs.c.succeeded, jobs.c.workflow_id, jobs.c.workflow_try)
    query = (
        select(*keys, func.count().label("n"), func.max(jobs.c.workflow_index).label("last_index"))
        .join(latest, jobs.c.id == latest.c.id)
        .group_by(*keys)
    )
    return session.execute(query).all()


def retry_indices(
    session: Session, workflow_ids: Sequence[int], job: str, try_number: int, *, task_failures_ok: bool, limit: int
) -> list[int | None]:
    """Instances of `job` to run again, lowest first: their latest job failed (spec §7.3) in an
    earlier try of the node or in an ancestor of the rerun (`workflow_ids[0]` is the current one)."""
    latest = _latest(workflow_ids, job)
    good: ColumnElement[bool] = jobs.c.status == "completed"
    if not task_failures_ok:
        good = good & jobs.c.succeeded.is_(True)
    query = (
        select(jobs.c.workflow_index)
        .join(latest, jobs.c.id == latest.c.id)
        .where(jobs.c.status.in_(TERMINAL), ~good)
        .where(or_(jobs.c.workflow_id != workflow_ids[0], func.coalesce(jobs.c.workflow_try, 0) < try_number))
        .order_by(jobs.c.workflow_index)
        .limit(limit)
    )
    return list(session.scalars(query))


def member_job(session: Session, workflow_ids: Sequence[int], job: str, index: int | None) -> Row | None:
    """The latest job of instance `index` of `job` (None: a job without factory) in the lineage."""
    query = select(jobs).where(jobs.c.workflow_id.in_(list(workflow_ids)), jobs.c.workflow_job == job)
    query = query.where(jobs.c.workflow_index.is_(None) if index is None else jobs.c.workflow_index == index)
    return session.execute(query.order_by(jobs.c.id.desc()).limit(1)).first()


def active_member_ids(session: Session, workflow_id: int) -> list[int]:
    query = select(jobs.c.id).where(jobs.c.workflow_id == workflow_id, jobs.c.status.not_in(TERMINAL))
    return list(session.scalars(query))
