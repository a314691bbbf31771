"""What a committed end tells the processes waiting for it, without a query.

A workflow's job leaves two marks in the stack's home, both touched only once the end is
committed (a waiter woken earlier would read the old state and go back to sleep): the workflow's
`events` file, whose mtime its nodes' triggers watch (triggers/workflow.py), and an entry named
after the workflow in the `workflow-ended` folder, which the api-server takes to release what may
now run (engine/workflow_events.py); a newly stored workflow leaves the entry too, for its first
jobs. Any job's run that ends sends a datagram to the `admission.sock` of the stack's home once
the scheduler has committed the run's state: the reconciler's admission loop, waiting on it, gives
what the run held to a waiting job at once (engine/dispatch.py). A run created sends one to
`scheduler.sock` once committed: the scheduler, resting while nothing runs, starts it at once
(scheduler/idle.py). All are hints: whoever waits on them also asks on a timer.
"""

from __future__ import annotations

import logging
import select
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from prominence.config import get_settings
from prominence.contract.workflows import ended_marks, events_file

log = logging.getLogger(__name__)
# Where a session keeps what to tell once it commits (nothing if it rolls back): (call, argument).
PENDING = "prominence_on_commit"
ADMISSION_SOCKET = "admission.sock"
SCHEDULER_SOCKET = "scheduler.sock"


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
    _on_commit(session, member_ended, workflow_id)


def run_ended_on_commit(session: Session) -> None:
    """Wake the admission loop when `session` (the scheduler's, ending a job's run) commits."""
    _on_commit(session, hint, ADMISSION_SOCKET)


def run_created_on_commit(session: Session) -> None:
    """Wake a resting scheduler when `session` (creating a run) commits."""
    _on_commit(session, hint, SCHEDULER_SOCKET)


def _on_commit(session: Session, call: Callable[[Any], None], argument: Any) -> None:
    pending = session.info.get(PENDING)
    if pending is None:
        pending = session.info[PENDING] = set()
        event.listen(session, "after_commit", _committed)
        event.listen(session, "after_rollback", _rolled_back)
    pending.add((call, argument))


def _committed(session: Session) -> None:
    pending = session.info.get(PENDING) or set()
    while pending:
        call, argument = pending.pop()
        call(argument)


def _rolled_back(session: Session) -> None:
    (session.info.get(PENDING) or set()).clear()


def socket_path(name: str) -> Path:
    return get_settings().home / name


class Wakeup:
    """A waiter's end: a datagram socket in the stack's home (0600) that a commit writes a byte
    to. Waiting on it costs nothing while nothing happens (a poll of a mark file every 20 ms cost
    1.2% of a core)."""

    def __init__(self, name: str) -> None:
        path = socket_path(name)
        path.unlink(missing_ok=True)
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.socket.bind(str(path))
        path.chmod(0o600)
        self.socket.setblocking(False)

    def wait(self, timeout: float) -> bool:
        """Whether a hint came, waiting up to `timeout`; every hint received so far is taken."""
        select.select([self.socket], [], [], timeout)
        woken = False
        while True:
            try:
                self.socket.recv(16)
            except BlockingIOError:
                return woken
            woken = True


def hint(name: str) -> None:
    """Never an error: without a waiter listening (or with its queue full) its timer serves."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
            sender.sendto(b"\n", socket.MSG_DONTWAIT, str(socket_path(name)))
    except OSError:
        pass
