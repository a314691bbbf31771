"""REST latency with 100, 1,000 and 10,000 jobs stored, 8 concurrent clients (DESIGN.md §5).

Stored jobs are finished jobs written straight into our table (running 10,000 real jobs first
would measure the scheduler, not the API); the jobs created here run for real.
"""

from __future__ import annotations

import os
import time
import uuid

from bench.measure import client, median, percentile, timed_calls, wait_terminal

CLIENTS = 8
PER_CLIENT = 25
# Each create starts a real job; BENCH_CREATES_PER_CLIENT=25 makes a burst whose first jobs run
# while the last ones are created.
CREATES_PER_CLIENT = int(os.environ.get("BENCH_CREATES_PER_CLIENT", "5"))
STORED = (100, 1000, 10000)
USER = "bench"


def seed(env: dict[str, str], total: int) -> None:
    """Top the bench user's stored jobs up to `total` finished jobs."""
    os.environ.update(env)
    # Imported once the stack's env is in os.environ: the package reads its settings on first use.
    from sqlalchemy import func, insert, select

    from prominence.store.db import session_scope
    from prominence.store.tables import ids, jobs

    spec = {
        "resources": {"nodes": 1, "cpus": 1, "memory": 1, "disk": 10},
        "tasks": [{"image": "busybox", "runtime": "singularity", "cmd": "true"}],
    }
    with session_scope() as session:
        have = session.scalar(select(func.count()).select_from(jobs).where(jobs.c.owner == USER)) or 0
        now = int(time.time())
        rows = []
        for _ in range(total - have):
            job_id = session.execute(insert(ids).values(kind="job")).inserted_primary_key[0]
            rows.append(
                dict(
                    id=job_id,
                    uuid=str(uuid.uuid4()),
                    owner=USER,
                    groups="",
                    name="stored",
                    status="completed",
                    spec=spec,
                    create_time=now,
                    start_time=now,
                    end_time=now,
                    in_queue=False,
                    leave_in_queue=False,
                    execution={"tasks": [{"exitCode": 0}]},
                    succeeded=True,
                )
            )
        if rows:
            session.execute(insert(jobs), rows)


def run(stack) -> list[dict]:
    token = stack.token(USER)
    new = lambda: client(stack.url, token)  # noqa: E731
    api = new()
    body = {"resources": {"cpus": 1, "memory": 1}, "tasks": [{"image": stack.sample_image, "cmd": "echo probe"}]}
    probe = api.post("/jobs", json=body).json()["id"]
    wait_terminal(api, probe)
    calls = {
        "health (baseline)": lambda c, i: c.get("/health"),
        "list active": lambda c, i: c.get("/jobs", params={"num": 1}),
        "describe": lambda c, i: c.get(f"/jobs/{probe}"),
        "stdout": lambda c, i: c.get(f"/jobs/{probe}/stdout"),
        "create": lambda c, i: c.post("/jobs", json={**body, "tasks": [{"image": stack.sample_image, "cmd": "true"}]}),
    }
    rows = []
    for stored in STORED:
        seed(stack.env, stored)
        per_client = {"create": CREATES_PER_CLIENT}
        for name, call in calls.items():
            latencies = timed_calls(new, call, CLIENTS, per_client.get(name, PER_CLIENT))
            rows.append(
                {
                    "stored": stored,
                    "call": name,
                    "p50_ms": 1000 * median(latencies),
                    "p99_ms": 1000 * percentile(latencies, 99),
                    "n": len(latencies),
                }
            )
        _drain(api)
    return rows


def _drain(api) -> None:
    """Let the created jobs finish so the next round starts from an idle stack."""
    deadline = time.monotonic() + 600
    while api.get("/jobs", params={"num": 1}).json() and time.monotonic() < deadline:
        time.sleep(1)
