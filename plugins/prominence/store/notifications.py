"""Notifications owed (the `notify` column of jobs and workflows): found, claimed, given back.

A claim is a conditional UPDATE: of two passes (or two reconcilers) claiming the same row, one
changes it and the other changes nothing, so a notification is taken, hence sent, at most once.
"""

from __future__ import annotations

from sqlalchemy import Row, Table, select, update
from sqlalchemy.orm import Session

from prominence.contract.states import TERMINAL, JobStatus

PENDING, SENT, FAILED = "pending", "sent", "failed"
FINISHED = tuple(status for status in TERMINAL if status != JobStatus.DELETED)


def owed(session: Session, table: Table, limit: int) -> list[Row]:
    """Rows that ended (not by their owner deleting them) and still owe their notification."""
    query = select(table).where(table.c.notify == PENDING, table.c.status.in_(FINISHED)).order_by(table.c.id).limit(limit)
    return session.execute(query).all()


def forget_deleted(session: Session, table: Table) -> None:
    """A job or workflow its owner deleted owes nothing: they know how it ended."""
    session.execute(update(table).where(table.c.notify == PENDING, table.c.status == JobStatus.DELETED.value).values(notify=None))


def move(session: Session, table: Table, row_id: int, before: str, after: str) -> bool:
    """Set `notify` from `before` to `after`; False when it no longer was `before`."""
    result = session.execute(update(table).where(table.c.id == row_id, table.c.notify == before).values(notify=after))
    return result.rowcount > 0
