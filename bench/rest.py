"""REST latency with 100, 1,000 and 10,000 jobs stored, 8 concurrent clients (docs/performance.md).

Stored jobs are finished jobs written straight into our table (running 10,000 real jobs first
would measure the scheduler, not the API); the jobs created here run for real. `make bench` runs
it on the embedded SQLite stack and again on PostgreSQL; by itself:

    bench/rest.py [--postgres] [STORED ...]         (STORED defaults to 100 1000 10000)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.measure import client, median, percentile, timed_calls, wait_terminal  # noqa: E402
from bench.stack import fresh_postgres_stack, fresh_stack  # noqa: E402

CLIENTS = 8
PER_CLIENT = 25
# Each create starts a real job; BENCH_CREATES_PER_CLIENT=25 makes a burst whose first jobs run
# while the last ones are created.
CREATES_PER_CLIENT = int(os.environ.get("BENCH_CREATES_PER_CLIENT", "5"))
STORED = (100, 1000, 10000)
USER = "bench"


def seed(env: dict[str, str], total: int) -> None:
    """Top the bench user's stored jobs up to `total` finished jobs, from a child process: Airflow
    binds its engine to the first stack a process sees, and a run has stacks on other databases."""
    code = "import sys; from bench.rest import seed_here; seed_here(int(sys.argv[1]))"
    subprocess.run([sys.executable, "-c", code, str(total)], env=env, cwd=REPO, check=True)


def seed_here(total: int) -> None:
    """`seed` inside a process that has the stack's env."""
    # Imported in the child only: the package reads its settings and binds its engine on first use.
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


def run(stack, sizes: tuple[int, ...] = STORED) -> list[dict]:
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
    for stored in sizes:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stored", nargs="*", type=int, default=list(STORED))
    parser.add_argument("--postgres", action="store_true", help="a PostgreSQL stack (BENCH_POSTGRES_URL's server)")
    args = parser.parse_args()
    with fresh_postgres_stack() if args.postgres else fresh_stack() as stack:
        rows = run(stack, tuple(args.stored))
    print(f"{'stored':>7} {'call':18} {'p50 ms':>8} {'p99 ms':>8} {'n':>4}")
    for r in rows:
        print(f"{r['stored']:7} {r['call']:18} {r['p50_ms']:8.1f} {r['p99_ms']:8.1f} {r['n']:4}")


if __name__ == "__main__":
    main()
