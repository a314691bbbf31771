"""Releasing a workflow's jobs the moment they may run, not when the DAG gets to their nodes.

A thread of the api-server (the one process holding the key that signs the jobs' tokens;
several api-server processes share the work, each mark being taken by one). A stored workflow
and each committed end of one of its jobs leave a mark named after the workflow
(store/signals.py); every WATCH_SECONDS this takes the marks and, for each workflow, releases
every job whose parents (if any) have all succeeded and that has no job yet in this workflow,
through `advance` (first try), the path the DAG's node takes when it starts: serialised per
workflow and keyed per instance, so a node asking at the same time releases nothing twice.
The node then finds its jobs released (or ended) and follows at once. The DAG stays the
fallback: a mark lost to a crash only means the job is released by its node, as before.

The mark of a workflow's last job to end also completes the workflow when every instance of
every job has succeeded: its DAG's nodes notice one after another, seconds per node, and the
DAG run's end then only removes the file. A failure is left to the DAG, whose retries may
release the job again. A workflow with all its jobs released is checked at most once every
COMPLETION_CHECK_SECONDS (a sweep's ends would each cost a summary); a mark that comes sooner
is left for the next round.
"""

from __future__ import annotations

import logging
import os
import time
from collections import defaultdict

from prominence.contract.states import TERMINAL, JobStatus
from prominence.contract.workflows import ended_marks
from prominence.engine.background import LazyThread
from prominence.engine.workflows import advance, description_of, good
from prominence.store import workflows as store
from prominence.store.db import session_scope
from prominence.store.signals import release_wanted

log = logging.getLogger(__name__)
WATCH_SECONDS = 0.1
COMPLETION_CHECK_SECONDS = 1.0

# The jobs of each workflow known to have a job in it (which stays so): once all of a workflow's
# jobs have, its marks (a sweep's thousands of ends) cost one read of its row. Forgotten at
# KNOWN_WORKFLOWS, which only costs the next mark of each a summary.
KNOWN_WORKFLOWS = 10_000
_known: dict[int, set[str]] = {}
# When each workflow's summary was last read (for a workflow with all its jobs released, at most
# once every COMPLETION_CHECK_SECONDS).
_checked: dict[int, float] = {}


def run_forever(interval: float = WATCH_SECONDS) -> None:
    while True:
        for workflow_id in take_marks():
            try:
                release_ready(workflow_id)
            except Exception:
                log.exception("Workflow %s: releasing its ready jobs failed; its nodes will", workflow_id)
        time.sleep(interval)


def take_marks() -> list[int]:
    """The workflows marked since the last call; each mark is removed before it is handled, so an
    end committed meanwhile leaves a new one."""
    try:
        entries = list(os.scandir(ended_marks()))
    except FileNotFoundError:
        return []
    taken = []
    for entry in entries:
        try:
            os.unlink(entry.path)
        except FileNotFoundError:
            continue
        if entry.name.isdigit():
            taken.append(int(entry.name))
    return taken


def release_ready(workflow_id: int) -> list[int]:
    """Release the jobs of the workflow all of whose parents succeeded (its first jobs: at once)
    and that have no job in it yet; the ids of the jobs released."""
    with session_scope() as session:
        row = store.get_workflow(session, workflow_id)
        if row is None or row.status in TERMINAL:
            _known.pop(workflow_id, None)
            _checked.pop(workflow_id, None)
            return []
        description = description_of(row)
        if len(_known) >= KNOWN_WORKFLOWS:
            _known.clear()
            _checked.clear()
        here = _known.setdefault(workflow_id, set())
        if len(here) == len(description.jobs) and time.monotonic() - _checked.get(workflow_id, 0.0) < COMPLETION_CHECK_SECONDS:
            release_wanted(workflow_id)  # read just now: look again next round
            return []
        _checked[workflow_id] = time.monotonic()
        summary = store.member_summary(session, [row.id, *row.lineage])
    done: dict[str, int] = defaultdict(int)
    for group in summary:
        if group.workflow_id == row.id:
            here.add(group.workflow_job)
        if group.status in TERMINAL and good(group, description):
            done[group.workflow_job] += group.n
    released = []
    for job, parents in description.parents().items():
        if job not in here and all(done[parent] == description.size_of(parent) for parent in parents):
            node = advance(row, job, 1)
            if node.released:
                here.add(job)
            released += node.released
    if released:
        log.info("Workflow %s: released jobs %s ahead of its DAG", workflow_id, released)
    elif all(done[job] == description.size_of(job) for job in description.parents()):
        with session_scope(write=True) as session:
            store.finish_workflow(session, row.id, status=JobStatus.COMPLETED.value, reason=None, end_time=int(time.time()))
        log.info("Workflow %s: completed with its last job, ahead of its DAG", workflow_id)
    return released


# Started once per process by the REST app (rest/app.py).
watcher = LazyThread(run_forever, "prominence-workflow-release")
