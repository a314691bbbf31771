"""Many users on one small pool (2 cpus, 3 GB, docs/scheduling.md): fair share between users,
`priority` within a user, quotas, memory that must fit, ranges resolved to what is free.

A stack of its own, so the pool's size and the quotas are known whatever the machine."""

from __future__ import annotations

import time

import httpx
import pytest

from prominence.engine.admission import WAITING_FOR_RESOURCES
from prominence.model.errors import QUOTA_DATA_BYTES, QUOTA_JOBS_QUEUED
from tests.integration.api import Api, job
from tests.integration.conftest import running_stack

QUEUED_QUOTA = 30
DATA_QUOTA = 1000


@pytest.fixture(scope="module")
def pool(reachable_tmp):
    settings = {
        "PROMINENCE_WORKER_CPUS": "2",
        "PROMINENCE_WORKER_MEMORY_GB": "3",
        "PROMINENCE_QUOTA_JOBS_QUEUED": str(QUEUED_QUOTA),
        "PROMINENCE_QUOTA_DATA_BYTES": str(DATA_QUOTA),
    }
    with running_stack(reachable_tmp / "fairshare", **settings) as running:
        yield running


@pytest.fixture(scope="module")
def image(pool) -> str:
    return pool.env["SAMPLE_IMAGE"]


def user(pool, name: str) -> Api:
    api = Api(pool.url, pool.token(name))
    api.client.timeout = httpx.Timeout(120)  # a loaded machine (CI shares it) answers slowly
    return api


def statuses(api: Api, ids: list[int]) -> dict[int, str]:
    response = api.client.get("/jobs", params={"id": ",".join(map(str, ids)), "all": "true"})
    assert response.status_code == 200, response.text
    return {item["id"]: item["status"] for item in response.json()}


def wait_until(condition, timeout: float = 120, step: float = 0.2):
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(step)
    return found


def delete(api: Api, ids: list[int]) -> None:
    assert api.client.delete("/jobs", params={"id": ",".join(map(str, ids))}).status_code == 200


def test_a_late_user_starts_within_the_next_free_slots(pool, image):
    alice, bob = user(pool, "alice"), user(pool, "bob")
    heavy = [alice.submit(job(image, "sleep 2")) for _ in range(30)]
    try:
        wait_until(lambda: sum(s != "idle" for s in statuses(alice, heavy).values()) >= 2)
        late = [bob.submit(job(image, "sleep 2")) for _ in range(3)]
        alice_before = sum(s != "idle" for s in statuses(alice, heavy).values())
        wait_until(lambda: all(s != "idle" for s in statuses(bob, late).values()))
        alice_after = sum(s != "idle" for s in statuses(alice, heavy).values())
    finally:
        delete(alice, heavy)
    # Alice may show up to three more started jobs: the two holding the pool's slots when bob
    # arrived (admitted, shown as started only once their task starts), and the one given the
    # slot that frees while bob's last job is starting (none of bob's waits by then). Without
    # fair share she would start all 28 of hers that wait before any of bob's.
    assert alice_after - alice_before <= 3, (alice_before, alice_after)
    for job_id in late:
        assert bob.wait(job_id, timeout=60)["status"] == "completed"


def test_priority_orders_a_users_own_jobs(pool, image):
    carol = user(pool, "carol")
    whole_pool = {"nodes": 1, "cpus": 2, "memory": 1, "disk": 10}
    blocker = carol.submit(job(image, "sleep 3", resources=whole_pool))
    carol.wait(blocker, states=("running",), timeout=60)
    low, high, later = (
        carol.submit(job(image, "sleep 1", resources=whole_pool, policies={"priority": priority})) for priority in (0, 5, 0)
    )
    ended = {job_id: carol.wait(job_id, timeout=90) for job_id in (low, high, later)}
    assert all(item["status"] == "completed" for item in ended.values())
    assert ended[high]["events"]["startTime"] < ended[low]["events"]["startTime"] < ended[later]["events"]["startTime"]


def test_jobs_whose_memory_together_exceeds_the_pool_do_not_run_together(pool, image):
    dave = user(pool, "dave")
    two_gb = {"nodes": 1, "cpus": 1, "memory": 2, "disk": 10}
    first, second = (dave.submit(job(image, "sleep 2", resources=two_gb)) for _ in range(2))
    dave.wait(first, states=("running",), timeout=60)
    waiting = dave.describe(second)
    assert waiting["status"] == "idle" and waiting["statusReason"] == WAITING_FOR_RESOURCES
    done = [dave.wait(job_id, timeout=60) for job_id in (first, second)]
    assert [item["status"] for item in done] == ["completed", "completed"]
    assert done[1]["events"]["startTime"] >= done[0]["events"]["endTime"]


def test_a_range_is_resolved_to_what_is_free(pool, image):
    erin = user(pool, "erin")
    blocker = erin.submit(job(image, "sleep 5"))
    erin.wait(blocker, states=("running",), timeout=60)
    ranged = {"nodes": 1, "cpusRange": [1, 8], "memoryPerCpu": 1, "disk": 10}
    job_id = erin.submit(job(image, "sh -c 'echo $PROMINENCE_CPUS $PROMINENCE_MEMORY'", resources=ranged))
    done = erin.wait(job_id, timeout=60)
    assert done["status"] == "completed", done
    assert done["execution"]["provisionedResources"]["cpus"] == 1
    assert erin.stdout(job_id).split() == ["1", "1"]
    assert erin.wait(blocker, timeout=60)["status"] == "completed"
    alone = erin.submit(job(image, "sh -c 'echo $PROMINENCE_CPUS $PROMINENCE_MEMORY'", resources=ranged))
    assert erin.wait(alone, timeout=60)["execution"]["provisionedResources"] == {"cpus": 2, "memory": 2, "disk": 10, "nodes": 1}
    assert erin.stdout(alone).split() == ["2", "2"]


def test_quotas_refuse_with_a_clear_error(pool, image):
    frank = user(pool, "frank")
    queued = [frank.submit(job(image, "sleep 60")) for _ in range(QUEUED_QUOTA)]
    refused = frank.client.post("/jobs", json=job(image, "sleep 60"))
    delete(frank, queued)
    assert refused.status_code == 400
    assert refused.json() == {"error": QUOTA_JOBS_QUEUED.format(quota=QUEUED_QUOTA)}
    assert frank.client.post("/jobs", json=job(image, "true")).status_code == 201

    url = frank.client.post("/data/upload", params={"name": "big.bin"}).json()["url"]
    assert httpx.put(url, content=b"x" * 2 * DATA_QUOTA).status_code == 200
    over = frank.client.post("/data/upload", params={"name": "more.bin"})
    assert over.status_code == 400
    assert over.json() == {"error": QUOTA_DATA_BYTES.format(used=2 * DATA_QUOTA, quota=DATA_QUOTA)}
    assert frank.client.delete("/data/big.bin").status_code == 204
    assert frank.client.post("/data/upload", params={"name": "more.bin"}).status_code == 201
