"""Aggregate queries on a workflow's jobs (real SQLite): only the latest job of each instance counts,
across a rerun's lineage, and failed instances come back for another try lowest first."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from prominence.store import workflows as store
from prominence.store.tables import jobs, metadata


@pytest.fixture
def session():
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    with Session(engine) as session:
        yield session


def add(session, job_id, workflow_id, index, status, succeeded=None, try_=1, job="sweep"):
    session.execute(
        insert(jobs).values(
            id=job_id,
            uuid=f"u{job_id}",
            owner="alice",
            status=status,
            spec={},
            create_time=0,
            succeeded=succeeded,
            workflow_id=workflow_id,
            workflow_job=job,
            workflow_index=index,
            workflow_try=try_,
        )
    )


@pytest.fixture
def lineage(session):
    """Workflow 1 ran instances 0-3 (1 and 3 failed, 2 ended with a task failure); its rerun 10
    re-ran 1 (now running) and 3 (failed again in try 1); instance 4 is not released yet."""
    add(session, 2, 1, 0, "completed", True)
    add(session, 3, 1, 1, "failed", False)
    add(session, 4, 1, 2, "completed", False)
    add(session, 5, 1, 3, "failed", False)
    add(session, 11, 10, 1, "running")
    add(session, 12, 10, 3, "failed", False)
    add(session, 13, 10, None, "completed", True, job="single")
    return [10, 1]


def test_summary_counts_the_latest_job_of_each_instance(session, lineage):
    rows = store.member_summary(session, lineage, "sweep")
    seen = sorted((r.status, bool(r.succeeded), r.workflow_id, r.n) for r in rows)
    assert seen == [("completed", False, 1, 1), ("completed", True, 1, 1), ("failed", False, 10, 1), ("running", False, 10, 1)]
    assert sum(r.n for r in rows) == 4 and max(r.last_index for r in rows) == 3
    assert sum(r.n for r in store.member_summary(session, lineage)) == 5


def test_retries_are_failures_of_ancestors_or_earlier_tries(session, lineage):
    assert store.retry_indices(session, lineage, "sweep", 1, task_failures_ok=False, limit=10) == [2]
    assert store.retry_indices(session, lineage, "sweep", 2, task_failures_ok=False, limit=10) == [2, 3]
    assert store.retry_indices(session, lineage, "sweep", 2, task_failures_ok=False, limit=1) == [2]
    assert store.retry_indices(session, lineage, "sweep", 2, task_failures_ok=True, limit=10) == [3]


def member(job_id, index, try_=1, job="sweep"):
    return dict(
        id=job_id,
        uuid=f"m{job_id}",
        owner="alice",
        status="idle",
        spec={"tasks": []},
        create_time=0,
        workflow_id=20,
        workflow_job=job,
        workflow_index=index,
        workflow_try=try_,
    )


@pytest.fixture
def workflow(session):
    session.execute(insert(store.workflows).values(id=20, uuid="w20", owner="alice", status="idle", spec={}, create_time=0))
    return 20


def test_an_instance_is_stored_once_per_try(session, workflow):
    assert store.insert_member(session, **member(30, 0))
    assert store.insert_member(session, **member(31, None, job="single"))
    for duplicate in (member(32, 0), member(33, None, job="single")):
        with pytest.raises(IntegrityError), session.begin_nested():
            store.insert_member(session, **duplicate)
    assert store.insert_member(session, **member(34, 0, try_=2))
    assert sorted(store.active_member_ids(session, workflow)) == [30, 31, 34]


def test_no_member_is_stored_into_a_workflow_that_ended(session, workflow):
    store.finish_workflow(session, workflow, status="deleted", reason="Workflow deleted by user", end_time=1)
    assert not store.insert_member(session, **member(40, 0))
    assert store.active_member_ids(session, workflow) == []
