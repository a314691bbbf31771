"""Fair share (docs/scheduling.md): a heavy user queues HEAVY_JOBS short jobs, then a late user
LATE_JOBS; how long each user's jobs waited between submission and start, and their ratio.

Without fair share the late user's jobs wait behind all of the heavy user's (a ratio well above
1); with it they start within the next free slots, so they wait less than the heavy user's.
The heavy user's jobs still queued once the late user's have started are deleted.
"""

from __future__ import annotations

import statistics
import time

import httpx

HEAVY_JOBS = 30
LATE_JOBS = 3
COMMAND = "sleep 2"


def _job(image: str) -> dict:
    task = {"image": image, "runtime": "singularity", "cmd": COMMAND}
    return {"resources": {"nodes": 1, "cpus": 1, "memory": 1, "disk": 10}, "name": "fairshare", "tasks": [task]}


def _client(stack, user: str) -> httpx.Client:
    return httpx.Client(base_url=stack.url, headers={"Authorization": f"Bearer {stack.token(user)}"}, timeout=60)


def _submit(client: httpx.Client, image: str, count: int) -> dict[int, float]:
    submitted = {}
    for _ in range(count):
        response = client.post("/jobs", json=_job(image))
        response.raise_for_status()
        submitted[response.json()["id"]] = time.time()
    return submitted


def _started(client: httpx.Client, ids: list[int]) -> dict[int, int]:
    response = client.get("/jobs", params={"id": ",".join(map(str, ids)), "all": "true"})
    response.raise_for_status()
    return {item["id"]: item["events"]["startTime"] for item in response.json() if item.get("events", {}).get("startTime")}


def run(stack, timeout: float = 600) -> dict:
    heavy, late = _client(stack, "bench-heavy"), _client(stack, "bench-late")
    heavy_jobs = _submit(heavy, stack.sample_image, HEAVY_JOBS)
    late_jobs = _submit(late, stack.sample_image, LATE_JOBS)
    deadline = time.monotonic() + timeout
    while len(late_started := _started(late, list(late_jobs))) < LATE_JOBS and time.monotonic() < deadline:
        time.sleep(0.5)
    heavy_started = _started(heavy, list(heavy_jobs))
    heavy.delete("/jobs", params={"id": ",".join(str(i) for i in heavy_jobs if i not in heavy_started)})
    late_wait = statistics.mean(late_started[i] - late_jobs[i] for i in late_started) if late_started else float("nan")
    heavy_wait = statistics.mean(heavy_started[i] - heavy_jobs[i] for i in heavy_started) if heavy_started else float("nan")
    return {
        "heavy_jobs": HEAVY_JOBS,
        "late_jobs": LATE_JOBS,
        "late_started": len(late_started),
        "heavy_started_by_then": len(heavy_started),
        "late_wait_s": round(late_wait, 2),
        "heavy_wait_s": round(heavy_wait, 2),
        "ratio": round(late_wait / heavy_wait, 2) if heavy_wait else float("nan"),
    }
