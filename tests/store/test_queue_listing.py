"""Listing queries: active items plus the most recent ones that left the queue (spec §6.2)."""

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from prominence.store import jobs, workflows
from prominence.store.schema import upgrade

SPEC = {"resources": {}, "tasks": []}


@pytest.fixture
def session(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    upgrade(engine)
    with Session(engine) as session:
        for i, (queued, end) in enumerate([(True, None), (False, 10), (False, 30), (False, 20)], start=1):
            common = dict(
                id=i,
                uuid=f"u{i}",
                owner="alice",
                name=f"n{i}",
                status="idle",
                spec=SPEC,
                create_time=1,
                end_time=end,
                in_queue=queued,
                leave_in_queue=False,
            )
            jobs.insert_job(session, **common)
            workflows.insert_workflow(session, **common)
        yield session


@pytest.mark.parametrize(
    "find",
    [
        lambda s, **kw: jobs.find_jobs(s, "alice", **kw),
        lambda s, **kw: workflows.find_workflows(s, "alice", **kw),
    ],
)
def test_active_then_most_recent_completed(session, find):
    assert [r.id for r in find(session, active=True, completed_limit=0)] == [1]
    assert [r.id for r in find(session, active=False, completed_limit=2)] == [3, 4]
    assert [r.id for r in find(session, active=True, completed_limit=-1)] == [1, 3, 4, 2]
    assert find(session, active=True, completed_limit=-1, name="n2")[0].id == 2


def test_the_ended_workflows_among_some_are_found_in_one_query(session):
    session.execute(workflows.workflows.update().where(workflows.workflows.c.id.in_([2, 3])).values(status="deleted"))
    assert sorted((r.id, r.status, r.end_time) for r in workflows.ended_among(session, [1, 2, 4, 9])) == [(2, "deleted", 10)]
    assert workflows.ended_among(session, []) == []
