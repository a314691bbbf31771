"""Admission's decisions on a pool of given size: fair share between users, `priority` within a
user, ranges resolved to what is free, memory that must fit, the running-cpus quota."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from prominence.config import get_settings
from prominence.engine import resources
from prominence.engine.admission import (
    OVERLAP_SECONDS,
    WAITING_FOR_QUOTA,
    WAITING_FOR_RESOURCES,
    UsageBook,
    Waiting,
    plan,
    usage_by_owner,
)
from prominence.engine.resources import Grant, PoolUsage, decay, fit, never_fits


@pytest.fixture(autouse=True)
def settings(monkeypatch):
    monkeypatch.setenv("PROMINENCE_WORKER_CPUS", "4")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def pool(cpus: int = 4, memory: float = 8.0) -> PoolUsage:
    return PoolUsage(4, cpus, 8.0, memory, 100.0, 100.0)


def job(job_id: int, owner: str, priority: int = 0, **resources) -> Waiting:
    spec = {"resources": {"cpus": 1, "memory": 1, "disk": 1} | resources, "policies": {"priority": priority}}
    if "cpusRange" in resources or "cpusOptions" in resources or "totalCpusRange" in resources:
        del spec["resources"]["cpus"]
    return Waiting(job_id, owner, created=job_id, spec=spec)


def started(decided) -> list[int]:
    return [waiting.job_id for waiting, _ in decided.start]


def test_the_user_with_less_recent_usage_goes_first_however_many_jobs_the_other_queued():
    queue = [job(i, "alice") for i in range(1, 31)] + [job(i, "bob") for i in (31, 32, 33)]
    decided = plan(queue, pool(cpus=3), usage={"alice": 50.0}, running_cpus={"alice": 2})
    assert started(decided) == [31, 32, 33]


def test_equal_users_share_the_free_slots():
    queue = [job(i, "alice") for i in (1, 2, 3)] + [job(i, "bob") for i in (4, 5, 6)]
    assert sorted(started(plan(queue, pool(cpus=4), {}, {}))) == [1, 2, 4, 5]


def test_priority_orders_a_users_own_jobs_then_first_come_first_served():
    queue = [job(1, "alice"), job(2, "alice", priority=5), job(3, "alice"), job(4, "alice", priority=5)]
    assert started(plan(queue, pool(cpus=4), {}, {})) == [2, 4, 1, 3]


def test_a_job_waits_until_its_memory_fits_and_the_next_user_is_tried():
    decided = plan([job(1, "alice", memory=6), job(2, "bob", memory=1)], pool(cpus=4, memory=5.0), {}, {})
    assert started(decided) == [2]
    assert decided.reasons == {1: WAITING_FOR_RESOURCES}


def test_ranges_take_the_largest_value_that_fits_and_memory_per_cpu_scales():
    assert fit({"cpusRange": [1, 64], "memoryPerCpu": 1, "disk": 1}, pool(cpus=3)) == Grant(3, 3.0, 1)
    assert fit({"cpusRange": [2, 64], "memoryPerCpu": 2, "disk": 1}, pool(cpus=4, memory=5.0)) == Grant(2, 4.0, 1)
    assert fit({"cpusOptions": [1, 4], "memory": 1, "disk": 1}, pool(cpus=3)) == Grant(1, 1.0, 1)
    assert fit({"totalCpusRange": [2, 8], "memory": 1, "disk": 1}, pool(cpus=4)) == Grant(4, 1.0, 1)
    assert fit({"cpusRange": [3, 4], "memory": 1, "disk": 1}, pool(cpus=2)) is None


def test_only_what_the_whole_pool_cannot_hold_never_fits():
    assert never_fits({"cpus": 5, "memory": 1, "disk": 1}, pool())
    assert never_fits({"cpus": 1, "memory": 9, "disk": 1}, pool())
    assert not never_fits({"cpusRange": [2, 64], "memory": 1, "disk": 1}, pool(cpus=0))


def test_the_running_cpus_quota_holds_a_users_jobs_back_with_a_reason(monkeypatch):
    monkeypatch.setenv("PROMINENCE_QUOTA_CPUS_RUNNING", "2")
    get_settings.cache_clear()
    decided = plan([job(1, "alice"), job(2, "alice"), job(3, "bob")], pool(), {}, {"alice": 1})
    assert started(decided) == [3, 1]
    assert decided.reasons == {2: WAITING_FOR_QUOTA}


def test_past_usage_decays_with_the_half_life_and_each_ended_job_counts_once(monkeypatch):
    monkeypatch.setenv("PROMINENCE_FAIRSHARE_HALF_LIFE", "100")
    get_settings.cache_clear()
    ended = SimpleNamespace(id=7, owner="alice", start_time=0, end_time=100, execution={"provisionedResources": {"cpus": 2}})
    book = UsageBook()
    assert book.since(200) == 200 - 10 * 100
    assert book.add([ended], now=200) == {"alice": pytest.approx(100.0)}
    assert book.since(300) == 200 - OVERLAP_SECONDS
    assert book.add([ended], now=300) == {"alice": pytest.approx(50.0)}
    usage = usage_by_owner(book.totals, [("bob", 1, 250)], now=300)
    assert usage == {"alice": pytest.approx(50.0), "bob": 50}
    assert decay(100, 100) == pytest.approx(0.5)


def test_a_job_too_big_for_what_is_free_waits_with_a_reason_while_smaller_ones_start():
    queue = [job(1, "alice", cpus=4), job(2, "alice"), job(3, "alice")]
    decided = plan(queue, pool(cpus=2), {}, {})
    assert started(decided) == [2, 3]
    assert decided.reasons == {1: WAITING_FOR_RESOURCES}


def test_pool_usage_takes_off_what_active_runs_hold(monkeypatch):
    monkeypatch.setenv("PROMINENCE_WORKER_MEMORY_GB", "8")
    get_settings.cache_clear()
    conf = {"job": {"cpus": 3, "provisioned": {"memory": 2.5, "disk": 10}}}
    found = {1: ("running", conf), 2: ("success", conf), 3: ("queued", conf)}
    monkeypatch.setattr(resources.store, "active_jobs", lambda session: [SimpleNamespace(id=i) for i in found])
    monkeypatch.setattr(resources.runs, "run_confs", lambda session, ids: found)
    monkeypatch.setattr(resources, "pool_slots", lambda session: 8)
    usage = resources.pool_usage(None).as_dict()
    assert usage["capacity"]["cpus"] == 8 and usage["free"]["cpus"] == 2
    assert usage["capacity"]["memory"] == 8 and usage["free"]["memory"] == 3
