"""Usage totals of spec §12 from stored task usage: whose jobs count, and how hours are summed."""

from __future__ import annotations

from datetime import date

from sqlalchemy import create_engine, insert
from sqlalchemy.orm import Session

from prominence.auth.identity import Identity
from prominence.engine.accounting import epoch_range
from prominence.engine.accounting import usage as accounting
from prominence.store.tables import jobs, metadata

DAY = date(2026, 3, 1)
TASKS = [{"wallTimeUsage": 1800.0, "cpuTimeUsage": 900.0}, {"wallTimeUsage": 1800.0, "cpuTimeUsage": 900.0}]


def session_with(*rows: tuple[str, str, str, int, dict | None]) -> Session:
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    with engine.begin() as connection:
        for number, (owner, groups, status, created, execution) in enumerate(rows, 1):
            values = {"id": number, "uuid": str(number), "owner": owner, "groups": groups, "status": status, "spec": {}}
            connection.execute(insert(jobs).values(**values, create_time=created, execution=execution))
    return Session(engine)


def test_hours_are_summed_per_user_and_group_for_finished_jobs_of_the_days():
    first, after = epoch_range(DAY, DAY)
    used = {"provisionedResources": {"cpus": 2}, "tasks": TASKS}
    session = session_with(
        ("alice", "physics", "completed", first, used),
        ("alice", "physics", "failed", after - 1, {"provisionedResources": {"cpus": 1}, "tasks": TASKS[:1]}),
        ("alice", "physics", "completed", after, used),  # the day after
        ("alice", "physics", "idle", first, None),  # not finished
        ("alice", "physics", "failed", first, {"tasks": [{"imagePullStatus": "failed"}]}),  # no task usage
        ("bob", "physics", "completed", first, used),
        ("carol", "", "completed", first, used),
    )
    alice = Identity("alice", "physics")

    mine = accounting(session, alice, DAY, DAY, by_group=False, all_users=False)
    assert mine == {"users": {"alice": {"cpuTime": 0.75, "wallTime": 2.5, "numberOfJobs": 2}}, "groups": {}}
    everyone = accounting(session, alice, DAY, DAY, by_group=False, all_users=True)
    assert sorted(everyone["users"]) == ["alice", "bob"]
    group = accounting(session, alice, DAY, DAY, by_group=True, all_users=False)
    assert group == {"users": {}, "groups": {"physics": {"cpuTime": 1.25, "wallTime": 4.5, "numberOfJobs": 3}}}
    alone = accounting(session, Identity("carol", ""), DAY, DAY, by_group=False, all_users=True)
    assert sorted(alone["users"]) == ["carol"]
