"""Trivial jobs with LocalExecutor against Celery with one and with two workers: throughput and
submit → completed latency of N jobs submitted at once, each executor on a stack of its own.

    bench/executors.py [--quick] [N]        (N defaults to 500; --quick runs 20)

The Celery stacks use PostgreSQL (BENCH_POSTGRES_URL's server, a fresh database each, dropped
afterwards) and an empty database of the local Redis; the LocalExecutor stack the default SQLite.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.measure import client, median, percentile  # noqa: E402
from bench.stack import fresh_postgres_stack, fresh_stack  # noqa: E402

JOBS = 500
QUICK_JOBS = 20


def empty_redis_database() -> str:
    """A broker of this run only: a database of the local Redis that holds no key."""
    # Loaded only for the Celery stacks.
    import redis

    for db in random.sample(range(1, 16), 15):
        if redis.Redis(db=db).dbsize() == 0:
            return f"redis://127.0.0.1:6379/{db}"
    raise RuntimeError("no empty Redis database on 127.0.0.1:6379")


def run_jobs(stack, jobs: int) -> dict:
    """Submit `jobs` trivial jobs at once, wait for all; figures from their own events."""
    token = stack.token("executors")
    body = {"resources": {"cpus": 1, "memory": 1}, "tasks": [{"image": stack.sample_image, "cmd": "true"}]}
    started = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda _: client(stack.url, token).post("/jobs", json=body).json()["id"], range(jobs)))
    api = client(stack.url, token)
    while api.get("/jobs", params={"num": 1}).json():
        time.sleep(1)
    elapsed = time.perf_counter() - started
    described = api.get("/jobs", params={"id": ",".join(map(str, ids)), "detail": 1}).json()
    latencies = [job["events"]["endTime"] - job["events"]["createTime"] for job in described if "endTime" in job["events"]]
    return {
        "jobs": jobs,
        "jobs_per_minute": jobs / elapsed * 60,
        "latency_p50_s": median(latencies),
        "latency_p90_s": percentile(latencies, 90),
        "not_completed": sum(1 for job in described if job["status"] != "completed"),
        "sites": sorted({job.get("execution", {}).get("site", "") for job in described}),
    }


def modes() -> dict[str, dict[str, str]]:
    celery = {"PROMINENCE_EXECUTOR": "celery"}
    return {
        "LocalExecutor": {"PROMINENCE_EXECUTOR": "local"},
        "Celery, 1 worker": celery | {"PROMINENCE_CELERY_WORKERS": "1"},
        "Celery, 2 workers": celery | {"PROMINENCE_CELERY_WORKERS": "2"},
    }


def run(jobs: int) -> dict:
    results = {}
    for name, env in modes().items():
        celery = env["PROMINENCE_EXECUTOR"] == "celery"
        opened = (
            fresh_postgres_stack(env | {"PROMINENCE_CELERY_BROKER_URL": empty_redis_database()}) if celery else fresh_stack(env)
        )
        with opened as stack:
            results[name] = run_jobs(stack, jobs)
        print(name, json.dumps(results[name]), flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("jobs", nargs="?", type=int, default=JOBS)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_JOBS} jobs, to try it")
    args = parser.parse_args()
    results = run(QUICK_JOBS if args.quick else args.jobs)
    print(f"{'executor':20} {'jobs':>6} {'jobs/min':>9} {'p50 s':>7} {'p90 s':>7} {'failed':>7}")
    for name, r in results.items():
        figures = f"{r['jobs_per_minute']:9.1f} {r['latency_p50_s']:7.1f} {r['latency_p90_s']:7.1f}"
        print(f"{name:20} {r['jobs']:6} {figures} {r['not_completed']:7}")


if __name__ == "__main__":
    main()
