#!/usr/bin/env python3
"""A parameterSweep workflow of N trivial jobs (spec §7, issue 4 "Scale"), on a fresh embedded stack.

    bench/workflow_sweep.py [N]                 run a sweep of N members to the end (default 10,000)
    bench/workflow_sweep.py --accepted [N]      submit N members (default 100,000), watch for 60 s, delete

The full run prints the member release rate and completion rate (jobs/min), the most members
seen idle at once (the workflow keeps at most WORKFLOW_MAX_IDLE idle) and the peak PSS of the
whole stack (supervisor and every descendant, tasks included). The accepted mode prints the
submit latency, how many members were released while it watched, the same idle and memory
figures, and the latency of describing the workflow. It polls every POLL_SECONDS and prints
figures; it asserts nothing. A 10,000-member sweep runs for over an hour on a 2-core machine
(about 2 trivial jobs per second there), so `make bench` runs a small sweep instead.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.measure import client, median  # noqa: E402
from bench.memory import descendants, pss_kib  # noqa: E402
from bench.stack import fresh_stack  # noqa: E402
from prominence.contract.states import TERMINAL  # noqa: E402

POLL_SECONDS = 2.0
ACCEPT_SECONDS = 60.0


def sweep(image: str, members: int) -> dict:
    return {
        "name": f"sweep{members}",
        "jobs": [
            {"name": "member", "resources": {"cpus": 1, "memory": 1, "disk": 1}, "tasks": [{"image": image, "cmd": "true"}]}
        ],
        "factories": [
            {
                "name": "n",
                "type": "parameterSweep",
                "jobs": ["member"],
                "parameters": [{"name": "i", "start": 1, "end": members, "step": 1}],
            }
        ],
    }


def stack_pss_mib(stack) -> float:
    """PSS of the supervisor and everything under it: every component and every running task."""
    supervisor = int((stack.home / "run" / "supervisor.pid").read_text())
    return sum(pss_kib(pid) for pid in descendants(supervisor)) / 1024


class Watch:
    """What the polls saw: release and completion progress, idle members, memory, describe latency."""

    def __init__(self, stack, api, workflow_id: int, started: float) -> None:
        self.stack, self.api, self.workflow_id, self.started = stack, api, workflow_id, started
        self.max_idle = 0
        self.peak_pss_mib = 0.0
        self.describe_s: list[float] = []
        self.released = self.done = self.failed = 0
        self.first_release_s = self.all_released_s = None
        self.status = "idle"

    def poll(self) -> None:
        before = time.perf_counter()
        workflow = self.api.get(f"/workflows/{self.workflow_id}").json()[0]
        self.describe_s.append(time.perf_counter() - before)
        progress, now = workflow["progress"], time.perf_counter() - self.started
        self.status = workflow["status"]
        self.done, self.failed = progress["done"], progress["failed"]
        self.released = progress["total"] - progress["waiting"]
        if self.released and self.first_release_s is None:
            self.first_release_s = now
        if progress["waiting"] == 0 and self.all_released_s is None:
            self.all_released_s = now
        idle = self.api.get("/jobs", params={"status": "idle"}).json()
        self.max_idle = max(self.max_idle, len(idle))
        self.peak_pss_mib = max(self.peak_pss_mib, stack_pss_mib(self.stack))

    def figures(self) -> dict:
        return {
            "released": self.released,
            "done": self.done,
            "failed": self.failed,
            "status": self.status,
            "first_release_s": self.first_release_s,
            "max_idle": self.max_idle,
            "peak_pss_mib": self.peak_pss_mib,
            "describe_p50_ms": median(self.describe_s) * 1000,
            "describe_max_ms": max(self.describe_s, default=float("nan")) * 1000,
        }


def _submit(stack, members: int, user: str):
    api = client(stack.url, stack.token(user))
    idle_pss = stack_pss_mib(stack)
    started = time.perf_counter()
    response = api.post("/workflows", json=sweep(stack.sample_image, members))
    submit_s = time.perf_counter() - started
    if response.status_code != 201:
        raise RuntimeError(f"POST /workflows: {response.status_code} {response.text}")
    return api, response.json()["id"], started, submit_s, idle_pss


def run(stack, members: int) -> dict:
    """Run a sweep of `members` trivial jobs to the end."""
    api, workflow_id, started, submit_s, idle_pss = _submit(stack, members, "sweep")
    watch = Watch(stack, api, workflow_id, started)
    while watch.status not in TERMINAL:
        time.sleep(POLL_SECONDS)
        watch.poll()
    elapsed = time.perf_counter() - started
    release_window = watch.all_released_s or elapsed
    return {
        "members": members,
        "submit_ms": submit_s * 1000,
        "elapsed_s": elapsed,
        "release_per_minute": watch.released / release_window * 60,
        "completion_per_minute": watch.done / elapsed * 60,
        "idle_pss_mib": idle_pss,
        **watch.figures(),
    }


def accepted(stack, members: int) -> dict:
    """Submit a sweep of `members`, watch it release for ACCEPT_SECONDS, then delete it."""
    api, workflow_id, started, submit_s, idle_pss = _submit(stack, members, "sweepaccept")
    watch = Watch(stack, api, workflow_id, started)
    while time.perf_counter() - started < ACCEPT_SECONDS:
        time.sleep(POLL_SECONDS)
        watch.poll()
    before = time.perf_counter()
    deleted = api.delete(f"/workflows/{workflow_id}")
    delete_s = time.perf_counter() - before
    if deleted.status_code != 200:
        raise RuntimeError(f"DELETE /workflows/{workflow_id}: {deleted.status_code} {deleted.text}")
    return {
        "members": members,
        "submit_ms": submit_s * 1000,
        "watched_s": time.perf_counter() - started,
        "release_per_minute": watch.released / (time.perf_counter() - started) * 60,
        "delete_ms": delete_s * 1000,
        "idle_pss_mib": idle_pss,
        **watch.figures(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("members", nargs="?", type=int)
    parser.add_argument("--accepted", action="store_true", help="submit, watch for 60 s, delete")
    args = parser.parse_args()
    with fresh_stack() as stack:
        if args.accepted:
            figures = accepted(stack, args.members or 100_000)
        else:
            figures = run(stack, args.members or 10_000)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
