#!/usr/bin/env python3
"""A linear workflow chain of LINKS trivial `true` jobs (issue 17 "Workflows without polling delay").

    bench/workflow_chain.py [N]     run a chain of N jobs (default 10) on a fresh embedded stack

First one lone `true` job runs to the end (it pulls the image, so the chain does not pay for
that), then BASELINE_JOBS more, one after the other: their submit → completed p50 is the
baseline, what one link would cost if releasing a job took no time at all. Then the chain runs.
Prints the chain's total time (submit → workflow ended, measured here) and per link (total /
links) against that baseline, and, per link, p50/p90 of "parent end → child released" (child
createTime − parent endTime) and "parent end → child running" (child startTime − parent
endTime), read from the jobs' own `events` in describe. Those timestamps are whole seconds, so
each per-link figure is good to ±1 s. It asserts nothing.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.measure import client, median, percentile, wait_terminal  # noqa: E402
from bench.stack import fresh_stack  # noqa: E402
from prominence.contract.states import TERMINAL  # noqa: E402

LINKS = 10
BASELINE_JOBS = 5
POLL_SECONDS = 0.2
TIMEOUT_SECONDS = 600


def chain(image: str, links: int) -> dict:
    names = [f"j{i}" for i in range(links)]
    return {
        "name": f"chain{links}",
        "jobs": [
            {"name": name, "resources": {"cpus": 1, "memory": 1, "disk": 1}, "tasks": [{"image": image, "cmd": "true"}]}
            for name in names
        ],
        "dependencies": {parent: [child] for parent, child in zip(names, names[1:], strict=False)},
    }


def members(api, workflow_id: int, links: int) -> list[dict]:
    """The chain's jobs in chain order (each released once, so one per name)."""
    found = api.get("/jobs", params={"workflow": "true", "id": workflow_id, "all": "true", "num": -1}).json()
    by_name = {job["name"].rsplit("/", 1)[-1]: job for job in found}
    return [by_name[f"j{i}"] for i in range(links) if f"j{i}" in by_name]


def figures(jobs: list[dict]) -> dict:
    released, running, ran = [], [], []
    for job in jobs:
        events = job["events"]
        if "startTime" in events and "endTime" in events:
            ran.append(events["endTime"] - events["startTime"])
    for parent, child in zip(jobs, jobs[1:], strict=False):
        ended = parent["events"].get("endTime")
        if ended is None:
            continue
        released.append(child["events"]["createTime"] - ended)
        if "startTime" in child["events"]:
            running.append(child["events"]["startTime"] - ended)
    return {
        "jobs_ran_s": sum(ran),
        "released_p50_s": median(released),
        "released_p90_s": percentile(released, 90),
        "running_p50_s": median(running),
        "running_p90_s": percentile(running, 90),
    }


def lone_jobs(api, image: str, count: int) -> list[float]:
    """Submit → completed (s) of `count` trivial jobs run one after the other."""
    body = {"resources": {"cpus": 1, "memory": 1, "disk": 1}, "tasks": [{"image": image, "cmd": "true"}]}
    seconds = []
    for _ in range(count):
        started = time.perf_counter()
        job = wait_terminal(api, api.post("/jobs", json=body).json()["id"])
        if job["status"] != "completed":
            raise RuntimeError(f"job {job['id']}: {job['status']} {job.get('statusReason')}")
        seconds.append(time.perf_counter() - started)
    return seconds


def run(stack, links: int = LINKS) -> dict:
    """Warm up, measure the lone-job baseline, then run one chain of `links` trivial jobs to the end."""
    api = client(stack.url, stack.token("chain"))
    lone_jobs(api, stack.sample_image, 1)
    baseline = median(lone_jobs(api, stack.sample_image, BASELINE_JOBS))
    started = time.perf_counter()
    response = api.post("/workflows", json=chain(stack.sample_image, links))
    if response.status_code != 201:
        raise RuntimeError(f"POST /workflows: {response.status_code} {response.text}")
    workflow_id = response.json()["id"]
    deadline = started + TIMEOUT_SECONDS
    while True:
        workflow = api.get(f"/workflows/{workflow_id}").json()[0]
        if workflow["status"] in TERMINAL or time.perf_counter() > deadline:
            break
        time.sleep(POLL_SECONDS)
    total = time.perf_counter() - started
    jobs = members(api, workflow_id, links)
    return {
        "links": links,
        "status": workflow["status"],
        "completed": sum(1 for job in jobs if job["status"] == "completed"),
        "total_s": total,
        "per_link_s": total / links,
        "lone_job_p50_s": baseline,
        **figures(jobs),
    }


def main() -> None:
    links = int(sys.argv[1]) if len(sys.argv) > 1 else LINKS
    with fresh_stack() as stack:
        result = run(stack, links)
    print(json.dumps(result, indent=2))
    print(
        f"\nchain of {links}: {result['total_s']:.1f} s in all, its jobs ran {result['jobs_ran_s']} s; "
        f"{result['per_link_s']:.2f} s per link against a lone job's submit → completed p50 "
        f"{result['lone_job_p50_s']:.2f} s (ratio {result['per_link_s'] / result['lone_job_p50_s']:.2f}); per link "
        f"parent end → child released p50 {result['released_p50_s']} s p90 {result['released_p90_s']} s, "
        f"→ child running p50 {result['running_p50_s']} s p90 {result['running_p90_s']} s"
    )


if __name__ == "__main__":
    main()
