"""Queries on the jobs table; the REST layer and the engine never write SQL themselves."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Column, Row, Select, Table, and_, func, insert, or_, select, update
from sqlalchemy.orm import Session

from prominence.contract.states import TERMINAL
from prominence.store.signals import on_commit
from prominence.store.tables import ids, jobs


def next_id(session: Session, kind: str) -> int:
    """The next id of the sequence jobs and workflows share (spec §1.2)."""
    return int(session.execute(insert(ids).values(kind=kind)).inserted_primary_key[0])


def insert_job(session: Session, **values: Any) -> None:
    session.execute(insert(jobs).values(**values))


def get_job(session: Session, job_id: int) -> Row | None:
    return session.execute(select(jobs).where(jobs.c.id == job_id)).first()


def find_jobs(
    session: Session,
    owner: str,
    *,
    active: bool,
    completed_limit: int,
    job_ids: Sequence[int] | None = None,
    workflow_id: int | None = None,
    name: str | None = None,
    detail: bool = True,
    columns: Sequence[Column] | None = None,
) -> list[Row]:
    """Active jobs (when `active`) plus up to `completed_limit` most recent jobs that left the queue.

    `completed_limit` < 0 means all of them; 0 means none. With `job_ids`, any state matches.
    Without `detail` the rows lack `execution`, which only a detailed view shows: decoding it
    was a third of the time a list of 1,000 jobs took. `columns`, when given, are all a row has.
    """
    if columns is None:
        columns = jobs.c if detail else [column for column in jobs.c if column.name != "execution"]
    base = select(*columns).where(jobs.c.owner == owner)
    if workflow_id is not None:
        base = base.where(jobs.c.workflow_id == workflow_id)
    if name is not None:
        # Spec §6.2: a workflow's job matches by its own name, not the composite `<wf>/<job>`.
        own = or_(and_(jobs.c.workflow_id.is_(None), jobs.c.name == name), jobs.c.workflow_job == name)
        base = base.where(own)
    if job_ids is not None:
        return session.execute(base.where(jobs.c.id.in_(list(job_ids)))).all()
    return queue_listing(session, jobs, base, active=active, completed_limit=completed_limit)


SUMMARY = ("id", "uuid", "status", "status_reason", "start_time", "end_time")
SUMMARY_KEY_LENGTH = len(SUMMARY)
SUMMARY_STATUS = SUMMARY.index("status")


def summary_columns(*, labels: bool) -> list[Column]:
    """What tells whether a job's list entry can have changed, in SUMMARY's order, without its
    JSON columns (its labels last, only when a listing filters by them)."""
    return [jobs.c[name] for name in SUMMARY + (("labels",) if labels else ())]


def queue_listing(session: Session, table: Table, base: Select, *, active: bool, completed_limit: int) -> list[Row]:
    """`base` narrowed to the active rows plus up to `completed_limit` that left the queue, newest
    first (< 0: all of them); jobs and workflows are listed alike (spec §6.2, §8)."""
    rows: list[Row] = []
    if active:
        rows.extend(session.execute(base.where(table.c.in_queue.is_(True))).all())
    if completed_limit != 0:
        done = base.where(table.c.in_queue.is_(False)).order_by(table.c.end_time.desc(), table.c.id.desc())
        if completed_limit > 0:
            done = done.limit(completed_limit)
        rows.extend(session.execute(done).all())
    return rows


def active_jobs(session: Session, owners: Iterable[str] | None = None) -> list[Row]:
    query = select(jobs).where(jobs.c.in_queue.is_(True), jobs.c.status.not_in(TERMINAL))
    if owners is not None:
        query = query.where(jobs.c.owner.in_(list(owners)))
    return session.execute(query).all()


def finished_between(session: Session, first: int, after: int, *, owner: str, group: str | None) -> list[Row]:
    """Terminal jobs submitted in [first, after) of `owner`, or of every member of `group`."""
    whose = jobs.c.owner == owner if group is None else jobs.c.groups == group
    query = select(jobs.c.owner, jobs.c.execution).where(
        whose, jobs.c.status.in_(TERMINAL), jobs.c.create_time >= first, jobs.c.create_time < after
    )
    return session.execute(query).all()


def deleted_since(session: Session, since: int) -> list[int]:
    """Jobs deleted at or after `since` (epoch seconds)."""
    query = select(jobs.c.id).where(jobs.c.status == "deleted", jobs.c.end_time >= since)
    return list(session.scalars(query))


def finish_job(session: Session, job_id: int, *, status: str, reason: str | None, end_time: int, **values: Any) -> bool:
    """Write the terminal state, once: a job that is already terminal is left as it is. The
    `exec` log recorded while it ran (`execution.commands`) is kept in the final execution.
    A workflow's job tells its workflow's waiters once this is committed (store/signals.py)."""
    if values.get("execution") is not None:
        values["execution"] = _with_commands(session, job_id, values["execution"])
    result = session.execute(
        update(jobs)
        .where(jobs.c.id == job_id, jobs.c.status.not_in(TERMINAL))
        .values(status=status, status_reason=reason, end_time=end_time, in_queue=jobs.c.leave_in_queue, **values)
        .returning(jobs.c.workflow_id)
    )
    ended = result.first()
    if ended is None:
        return False
    if ended.workflow_id is not None:
        on_commit(session, ended.workflow_id)
    return True


def record_attempts(session: Session, job_id: int, execution: dict[str, Any]) -> bool:
    """The execution of a job still active between two attempts (job retries, scheduler/retry.py)."""
    execution = _with_commands(session, job_id, execution)
    result = session.execute(update(jobs).where(jobs.c.id == job_id, jobs.c.status.not_in(TERMINAL)).values(execution=execution))
    return result.rowcount > 0


def _with_commands(session: Session, job_id: int, execution: dict[str, Any]) -> dict[str, Any]:
    """`execution` with the `exec` log recorded so far (`execution.commands`) kept in it."""
    before = session.execute(select(jobs.c.execution).where(jobs.c.id == job_id)).scalar()
    if before and before.get("commands"):
        return {**execution, "commands": before["commands"]}
    return execution


def record_command(session: Session, job_id: int, entry: dict[str, Any]) -> None:
    """Append one `exec` call to the running job's `execution.commands` (spec §4.2); a job that
    ended meanwhile keeps its final execution."""
    execution = session.execute(select(jobs.c.execution).where(jobs.c.id == job_id)).scalar() or {}
    execution = {**execution, "commands": [*execution.get("commands", []), entry]}
    session.execute(update(jobs).where(jobs.c.id == job_id, jobs.c.status.not_in(TERMINAL)).values(execution=execution))


def remove_from_queue(session: Session, job_id: int) -> bool:
    """Drop a leaveInQueue job from the active list; a running one leaves it when it ends."""
    result = session.execute(update(jobs).where(jobs.c.id == job_id, jobs.c.in_queue.is_(True)).values(leave_in_queue=False))
    session.execute(update(jobs).where(jobs.c.id == job_id, jobs.c.status.in_(TERMINAL)).values(in_queue=False))
    return result.rowcount > 0


def queued_count(session: Session, owner: str) -> int:
    """The owner's jobs in the queue that have not ended (the jobs-queued quota counts these)."""
    query = select(func.count()).select_from(jobs).where(jobs.c.owner == owner, jobs.c.in_queue.is_(True))
    return int(session.scalar(query.where(jobs.c.status.not_in(TERMINAL))) or 0)


def ended_since(session: Session, since: int) -> list[Row]:
    """Owner, start, end and execution of the jobs that ran and ended at or after `since` (fair share)."""
    query = select(jobs.c.id, jobs.c.owner, jobs.c.start_time, jobs.c.end_time, jobs.c.execution).where(
        jobs.c.end_time >= since, jobs.c.start_time.is_not(None)
    )
    return session.execute(query).all()


def set_waiting_reason(session: Session, job_id: int, reason: str | None) -> None:
    """Why an active job is still waiting (None once it starts); a terminal job keeps its own."""
    session.execute(update(jobs).where(jobs.c.id == job_id, jobs.c.status.not_in(TERMINAL)).values(status_reason=reason))
