"""Sustained throughput: 500 trivial jobs submitted at once, run to the end, none lost."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from bench.measure import client

JOBS = 500


def run(stack, count: int = JOBS) -> dict:
    token = stack.token("throughput")
    body = {"resources": {"cpus": 1, "memory": 1}, "tasks": [{"image": stack.sample_image, "cmd": "true"}]}
    started = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda _: client(stack.url, token).post("/jobs", json=body).json()["id"], range(count)))
    submitted = time.perf_counter() - started
    api = client(stack.url, token)
    while api.get("/jobs", params={"num": 1}).json():
        time.sleep(1)
    elapsed = time.perf_counter() - started
    jobs = api.get("/jobs", params={"id": ",".join(map(str, ids))}).json()
    not_completed = count - sum(1 for job in jobs if job["status"] == "completed")
    return {
        "jobs": count,
        "submit_s": submitted,
        "elapsed_s": elapsed,
        "jobs_per_minute": count / elapsed * 60,
        "not_completed": not_completed,
    }
